-- `retain` removes every trace of a live job and keeps its record in `retained`; `trim` deletes
-- the oldest records beyond `keep`. Retained ids are scored by Redis' clock in microseconds (one
-- microsecond apart within a batch), so "latest" is the order of finishing.
local function retain(queue, retained, id, record, keep, now_us)
  redis.call('DEL', JOB .. id, LOCK .. id, TRIES .. id)
  redis.call('ZREM', queue, id)
  if keep > 0 then
    redis.call('SET', RECORD .. id, record)
    redis.call('ZADD', retained, now_us, id)
  end
end

local function trim(retained, keep)
  local excess = redis.call('ZCARD', retained) - keep
  while excess > 0 do
    local n = math.min(excess, 1000)
    local old = redis.call('ZRANGE', retained, 0, n - 1)
    for i, old_id in ipairs(old) do old[i] = RECORD .. old_id end
    redis.call('DEL', unpack(old))
    redis.call('ZREMRANGEBYRANK', retained, 0, n - 1)
    excess = excess - n
  end
end

-- Whether an outcome of this worker's attempt may be stored: the lock is its own (`token`, or
-- `token+` for a job it claimed ahead), or lapsed with nobody else holding it and the job still
-- stored. Otherwise another worker took the job over (and may have finished it): the outcome is stale.
local function still_mine(id, token)
  local lock = redis.call('GET', LOCK .. id)
  if lock then return lock == token or lock == token .. '+' end
  return redis.call('EXISTS', JOB .. id) == 1
end

local function clock_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
