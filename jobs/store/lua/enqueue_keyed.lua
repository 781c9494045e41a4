-- ENQUEUE_KEYED: one trigger with a key (`trigger(key=..., debounce=... | throttle=...)`), in one
-- atomic step. The trigger key holds the id of the job it last enqueued.
--   debounce: a job of the key that is still waiting (queued or scheduled, never attempted, not
--     claimed) takes this trigger's payload and due time; otherwise a new job is enqueued.
--   throttle: the first trigger of a window enqueues; the others are dropped until it ends.
--   key: a trigger is dropped while the key's job is queued, scheduled or running.
--
-- KEYS[1] the queue
-- KEYS[2] the trigger key (string: job id, expiring)
-- KEYS[3] the queue's priority set (see ENQUEUE)
-- ARGV    wake channel, mode ('debounce', 'throttle' or 'key'), how long the key lives (ms), the new
--         job's id, the stored job, due ms, priority (0: none)
-- Returns {1 enqueued, 2 replaced the waiting job, 0 dropped; the id of the job that will run}.

--!include prefixes
--!include priority
local mode, ttl, id, stored, due = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local priority = tonumber(ARGV[7])
local function prioritise(job_id)  -- the job's priority, with its due time
  if priority ~= 0 then
    redis.call('ZADD', KEYS[3], priority_score(priority, due), job_id)
  else
    redis.call('ZREM', KEYS[3], job_id)
  end
end
local existing = redis.call('GET', KEYS[2])
if existing then
  local live = redis.call('EXISTS', JOB .. existing) == 1
  if mode == 'throttle' or (mode == 'key' and live) then return {0, existing} end
  if mode == 'debounce' and live and redis.call('EXISTS', LOCK .. existing, TRIES .. existing) == 0
      and redis.call('ZSCORE', KEYS[1], existing) then
    redis.call('SET', JOB .. existing, stored)
    redis.call('ZADD', KEYS[1], due, existing)
    prioritise(existing)
    redis.call('SET', KEYS[2], existing, 'PX', ttl)
    return {2, existing}
  end
end
if redis.call('EXISTS', JOB .. id, RECORD .. id) == 1 then return {0, id} end
redis.call('SET', JOB .. id, stored)
redis.call('ZADD', KEYS[1], due, id)
if priority ~= 0 then prioritise(id) end
redis.call('SET', KEYS[2], id, 'PX', ttl)
redis.call(PUBLISH, ARGV[1], '1')
return {1, id}
