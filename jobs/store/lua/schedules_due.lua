-- SCHEDULES_DUE: a worker's one call per poll: the queue's schedules whose next tick has come,
-- with their definitions, and when the earliest of the others is due.
--
-- KEYS[1] the queue's due schedules
-- KEYS[2] the queue's schedules
-- ARGV    now ms, at most how many
-- Returns {next tick ms of the first not due or -1, then (id, due tick ms, definition JSON or
-- false) per due schedule}.

local out = {-1}
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[2]))
for i = 1, #due, 2 do
  out[#out + 1] = due[i]
  out[#out + 1] = due[i + 1]
  out[#out + 1] = redis.call('HGET', KEYS[2], due[i])
end
local later = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
if later[2] then out[1] = later[2] end
return out
