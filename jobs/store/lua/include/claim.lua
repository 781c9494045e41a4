-- Lock up to `want` due jobs of a queue that is not paused and count their attempt. A running
-- job stays in the queue (arq's model), so locked ids are skipped. A lock holds its worker's
-- token; beyond the `free` slots the worker starts at once, `token+`: claimed ahead, not running
-- yet (readers count it as queued). Appends (id, stored job or false, attempt, ahead 1/0, due ms) per job
-- to `out`, whose first item is the next due ms or -1, looked up only when nothing was claimed;
-- returns how many it claimed.
local function claim(out, queue, paused, now, want, free, lock_ms, queue_name, token)
  local claimed, offset, batch = 0, 0, want + 64
  if want < 1 or redis.call('SISMEMBER', paused, queue_name) == 1 then return 0 end
  local first, jobs = #out + 1, {}
  while claimed < want and offset < 20000 do
    local due = redis.call('ZRANGEBYSCORE', queue, '-inf', now, 'WITHSCORES', 'LIMIT', offset, batch)
    for i = 1, #due, 2 do
      local id = due[i]
      local ahead = claimed >= free
      if redis.call('SET', LOCK .. id, ahead and token .. '+' or token, 'NX', 'PX', lock_ms) then
        local at = #out
        out[at + 1], out[at + 2], out[at + 3] = id, false, redis.call('INCR', TRIES .. id)
        out[at + 4], out[at + 5] = ahead and 1 or 0, due[i + 1]
        jobs[#jobs + 1] = JOB .. id
        claimed = claimed + 1
        if claimed == want then break end
      end
    end
    if #due < batch * 2 then break end
    offset = offset + batch
  end
  if claimed > 0 then  -- every claimed job's data in one call
    local data = mget(jobs)
    for k = 1, claimed do out[first + (k - 1) * 5 + 1] = data[k] end
  elseif #out == 1 then
    local nxt = redis.call('ZRANGEBYSCORE', queue, '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
    out[1] = nxt[2] or -1
  end
  return claimed
end

-- Due jobs locked with `token` that the worker is not running (`mine`): claimed in a turn whose
-- reply was lost. Handed over again with the attempt already counted (due ms unknown: -1); returns how many.
local function recover(out, queue, now, token, mine)
  local found = 0
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', queue, '-inf', now, 'LIMIT', 0, 20000)) do
    local lock = redis.call('GET', LOCK .. id)
    if not mine[id] and (lock == token or lock == token .. '+') then
      out[#out + 1] = id
      out[#out + 1] = redis.call('GET', JOB .. id)
      out[#out + 1] = tonumber(redis.call('GET', TRIES .. id) or '1')
      out[#out + 1] = lock == token and 0 or 1
      out[#out + 1] = -1
      found = found + 1
    end
  end
  return found
end
