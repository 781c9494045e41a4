-- SCHEDULE_FIRE: fire one tick of a schedule, exactly once however many workers race for it:
-- only the caller that finds the schedule still due at the tick it read moves it on (the
-- others find another score and do nothing), and the job's id is derived from the schedule and
-- the tick, so even a repeated call cannot enqueue a tick twice.
--
-- KEYS[1] the queue's due schedules
-- KEYS[2] the queue's last fired ticks
-- KEYS[3] the queue
-- ARGV    id, the due tick ms it read, the next tick ms, the tick to fire (ms, or '' to fire
--         nothing: a missed tick skipped), the job id, the stored job, the queue's wake channel
-- Returns 1 fired, 0 another worker moved it on first, 2 moved on without firing.

--!include prefixes
if redis.call('ZSCORE', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
if ARGV[4] == '' then return 2 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
local id = ARGV[5]
if redis.call('EXISTS', JOB .. id, RECORD .. id) == 0 then
  redis.call('SET', JOB .. id, ARGV[6])
  redis.call('ZADD', KEYS[3], ARGV[4], id)
  redis.call(PUBLISH, ARGV[7], '1')
end
return 1
