-- SCHEDULE_REMOVE: delete a schedule (`jobs unschedule`); the jobs it already enqueued stay.
--
-- KEYS[1] the queue's schedules
-- KEYS[2] the queue's due schedules
-- KEYS[3] the queue's last fired ticks (hash: id -> tick ms)
-- ARGV    id
-- Returns 1 removed, 0 unknown.

local n = redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return n
