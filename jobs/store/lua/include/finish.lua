-- Finishing jobs, batched: `retain` collects what storing one outcome takes (its live keys go,
-- its record is kept in `retained` unless keep is 0), `flush_retained` writes a batch of them in
-- a few calls (and takes them out of the queue's priority set `prio`, if given, writing the
-- priority of those in it into their records as `"priority"`, so `jobs retry` keeps it); `trim`
-- deletes the oldest records beyond `keep`. Retained ids are scored by Redis' clock in
-- microseconds (one microsecond apart within a batch), so "latest" is the order of finishing.
local function retain(batch, retained, id, record, keep, now_us)
  local n = batch.n + 1  -- counters, not `#t`: the length operator searches the table each time
  batch.n = n
  local gone = batch.gone
  gone[n * 3 - 2], gone[n * 3 - 1], gone[n * 3] = JOB .. id, LOCK .. id, TRIES .. id
  batch.ids[n] = id
  if keep > 0 then
    local kept = batch.kept + 1
    batch.kept = kept
    batch.records[kept * 2 - 1], batch.records[kept * 2] = RECORD .. id, record
    local scored = batch.scored[retained]
    if not scored then
      scored = {}
      batch.scored[retained] = scored
    end
    scored[#scored + 1], scored[#scored + 2] = now_us, id
  end
end

local function new_batch()
  return {n = 0, kept = 0, gone = {}, ids = {}, records = {}, scored = {}}
end

local function flush_retained(queue, batch, prio)
  if batch.n == 0 then return end
  each_slice(batch.gone, 3, function(...) redis.call('DEL', ...) end)
  each_slice(batch.ids, 1, function(...) redis.call('ZREM', queue, ...) end)
  if prio then  -- a priority set exists
    local records, skip = batch.records, #RECORD + 1
    for k = 2, batch.kept * 2, 2 do  -- a record (JSON from the worker, without "priority") ends with '}'
      local score = redis.call('ZSCORE', prio, string.sub(records[k - 1], skip))
      if score then
        local priority = -band_of(score) / PRIORITY_BAND
        records[k] = string.sub(records[k], 1, -2) .. ',"priority":' .. string.format('%d', priority) .. '}'
      end
    end
    each_slice(batch.ids, 1, function(...) redis.call('ZREM', prio, ...) end)
  end
  each_slice(batch.records, 2, function(...) redis.call('MSET', ...) end)
  for retained, scored in pairs(batch.scored) do
    each_slice(scored, 2, function(...) redis.call('ZADD', retained, ...) end)
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

-- Whether an outcome of this worker's attempt may be stored, given the job's `lock` as read: the
-- lock is its own (`token`, or `token+` for a job it claimed ahead), or lapsed with nobody else
-- holding it and the job still stored. Otherwise another worker took the job over (and may have
-- finished it): the outcome is stale.
local function still_mine(id, lock, token)
  if lock then return lock == token or lock == token .. '+' end
  return redis.call('EXISTS', JOB .. id) == 1
end

local function clock_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
