-- SCHEDULE_UPSERT: create or replace a schedule. An unchanged definition keeps its next tick
-- (a worker re-declaring its schedules at start does not move them); a changed one takes the
-- next tick computed for it.
--
-- KEYS[1] the queue's schedules (hash: id -> definition JSON)
-- KEYS[2] the queue's due schedules (sorted set: id -> next tick ms)
-- ARGV    id, definition JSON, next tick ms, 1 to keep the next tick of an unchanged definition
-- Returns 0 unchanged, 1 created, 2 replaced.

local old = redis.call('HGET', KEYS[1], ARGV[1])
if old == ARGV[2] and ARGV[4] == '1' and redis.call('ZSCORE', KEYS[2], ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
if old then return 2 end
return 1
