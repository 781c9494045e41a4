-- QUEUE_COUNTS: a queue's jobs per state. A running job stays in the queue, locked: the locks
-- are counted among the due ids ranked [first, first + how many), so a caller walks a long
-- backlog in slices instead of blocking Redis.
--
-- KEYS[1] the queue
-- KEYS[2] the completed set
-- KEYS[3] the failed set
-- KEYS[4] the paused queues
-- ARGV    now ms, queue name, first rank, how many
-- Returns {due, not yet due, locked in the slice, completed, failed, paused 1/0}.

--!include prefixes
local due = redis.call('ZCOUNT', KEYS[1], '-inf', ARGV[1])
local first = tonumber(ARGV[3])
local last = math.min(first + tonumber(ARGV[4]), due) - 1
local locked = 0
if last >= first then
  for _, id in ipairs(redis.call('ZRANGE', KEYS[1], first, last)) do
    local lock = redis.call('GET', LOCK .. id)
    if lock and string.sub(lock, -1) ~= '+' then locked = locked + 1 end  -- 'token+': claimed ahead, queued
  end
end
return {due, redis.call('ZCARD', KEYS[1]) - due, locked, redis.call('ZCARD', KEYS[2]),
        redis.call('ZCARD', KEYS[3]), redis.call('SISMEMBER', KEYS[4], ARGV[2])}
