-- SETTLE_AND_CLAIM: the worker's one round trip per turn: store the outcomes of finished
-- attempts, then claim as many due jobs as that frees slots for; register as waiting if the
-- queue ran dry (a trigger then hands its job straight to this worker). Both are done a batch
-- at a time (one MGET of the turn's locks; one DEL, ZREM, MSET and ZADD for its finished jobs;
-- one MGET of the claimed jobs): most of Redis's time per job was its per-call cost. Each
-- outcome is applied only while the job is still this worker's (`still_mine`: the lock token is
-- the fence); a 'c', 'f' or 'r' that is not is discarded and reported.
--
-- KEYS[1] the queue
-- KEYS[2] the paused queues
-- KEYS[3] the completed set
-- KEYS[4] the failed set
-- KEYS[5] the queue's idle workers
-- KEYS[6] the queue's priority set (jobs triggered with a priority other than 0)
-- KEYS[7] set while a worker enforces limits on the queue (triggers then hand nothing off)
-- ARGV    now ms, how many to claim, lock ms, queue name, lock token, how many start at once, how
--         long to stay registered as waiting (ms) if the queue runs dry before `how many to claim`
--         (0: not waiting; -1: not waiting, and not registered before either), the worker's
--         limits of the queue ('' when none: see include/limits.lua), then n: -1
--         normally, or after a failed turn the count of the running ids that follow (recover what
--         the lost reply claimed, or a hand-off whose message was lost); then per outcome (kind,
--         id, data, keep): 'c' completed / 'f' failed (data: the record JSON), 'r' retry (data:
--         due ms), 'u' unclaim (data: the attempt the worker is already running), 's' started (a
--         job claimed ahead now runs)
-- Returns {next due ms or -1, then (id, stored job or false, attempt, ahead 1/0, due ms or -1) per claimed job};
-- the first item is {next due ms or -1, discarded id, ...} when an outcome was discarded.

--!include prefixes
--!include batch
--!include priority
--!include finish
--!include limits
--!include claim
local token, lock_ms = ARGV[5], ARGV[3]
local n_mine = tonumber(ARGV[9])
local first = 10 + math.max(n_mine, 0)
local prioritised = redis.call('EXISTS', KEYS[6]) == 1
local locks_of = {}
for i = first, #ARGV, 4 do locks_of[#locks_of + 1] = LOCK .. ARGV[i + 1] end
local locks = #locks_of > 0 and mget(locks_of) or {}
local keep, now_us, discarded, batch = {}, nil, nil, new_batch()
for i = first, #ARGV, 4 do
  local kind, id, data = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if not still_mine(id, locks[(i - first) / 4 + 1], token) then
    if kind ~= 'u' and kind ~= 's' then
      discarded = discarded or {}
      discarded[#discarded + 1] = id
    end
  elseif kind == 'r' then
    if redis.call('EXISTS', JOB .. id) == 1 then
      redis.call('ZADD', KEYS[1], data, id)
      local ranked = prioritised and redis.call('ZSCORE', KEYS[6], id)
      if ranked then  -- its priority, with its new due time
        redis.call('ZADD', KEYS[6], score_text(band_of(ranked) + tonumber(data)), id)
      end
    end
    redis.call('DEL', LOCK .. id)
  elseif kind == 'u' then
    redis.call('SET', TRIES .. id, data)
  elseif kind == 's' then
    redis.call('SET', LOCK .. id, token, 'XX', 'PX', lock_ms)
  else
    local retained = kind == 'c' and KEYS[3] or KEYS[4]
    now_us = (now_us or clock_us()) + 1
    keep[retained] = tonumber(ARGV[i + 3])
    retain(batch, retained, id, data, keep[retained], now_us)
  end
end
flush_retained(KEYS[1], batch, prioritised and KEYS[6])
for retained, n in pairs(keep) do trim(retained, n) end  -- once per batch, with the last job's limit
local out, want = {-1}, tonumber(ARGV[2])
if n_mine >= 0 then
  local mine = {}
  for i = 10, first - 1 do mine[ARGV[i]] = true end
  want = want - recover(out, KEYS[1], ARGV[1], token, mine)
end
local free = tonumber(ARGV[6]) - (#out - 1) / 5
local rules = nil
if ARGV[8] ~= '' then
  rules = parse_rules(ARGV[8])
  redis.call('SET', KEYS[7], '1', 'PX', rules.ttl)
end
local claimed = claim(out, KEYS[1], KEYS[2], ARGV[1], want, free, lock_ms, ARGV[4], token, KEYS[6], prioritised, rules)
local registration, waiting = lock_ms .. ' ' .. token, tonumber(ARGV[7])
if waiting > 0 and claimed < want then
  local t = redis.call('TIME')
  local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('ZADD', KEYS[5], now_ms + waiting, registration)
elseif waiting == 0 then
  redis.call('ZREM', KEYS[5], registration)
end
if discarded then
  table.insert(discarded, 1, out[1])
  out[1] = discarded
end
return out
