-- RETRY_FAILED: run a retained failure again with fresh attempts: its record goes, the stored
-- job comes back, queued at the priority it had, and idle workers are woken (`jobs retry`).
--
-- KEYS[1] the failed set
-- KEYS[2] the queue
-- KEYS[3] the queue's priority set
-- ARGV    id, stored job, due ms, wake channel, priority (0: none)
-- Returns 1; 0 when the id is no longer a retained failure (retried or trimmed meanwhile);
-- -1 when a live job holds the id.

--!include prefixes
--!include priority
local id = ARGV[1]
if not redis.call('ZSCORE', KEYS[1], id) or redis.call('EXISTS', RECORD .. id) == 0 then return 0 end
if redis.call('EXISTS', JOB .. id, LOCK .. id) > 0 then return -1 end
redis.call('DEL', RECORD .. id, TRIES .. id)
redis.call('ZREM', KEYS[1], id)
redis.call('SET', JOB .. id, ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], id)
local priority = tonumber(ARGV[5])
if priority ~= 0 then redis.call('ZADD', KEYS[3], priority_score(priority, ARGV[3]), id) end
redis.call(PUBLISH, ARGV[4], '1')
return 1
