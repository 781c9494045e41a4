-- RELEASE: give back an attempt a graceful shutdown interrupted, or a job claimed ahead: unlock
-- it, uncount it; not if another worker holds it now.
--
-- KEYS[1] the queue (in a cluster, the hash tag the job's keys are built with)
-- ARGV    id, the releasing worker's lock token
-- Returns 1, or 0 when another worker holds the lock.

--!include prefixes
local lock = redis.call('GET', LOCK .. ARGV[1])
if lock and lock ~= ARGV[2] and lock ~= ARGV[2] .. '+' then return 0 end
redis.call('DEL', LOCK .. ARGV[1])
local tries = tonumber(redis.call('GET', TRIES .. ARGV[1]) or '0')
if tries > 1 then redis.call('DECR', TRIES .. ARGV[1]) else redis.call('DEL', TRIES .. ARGV[1]) end
return 1
