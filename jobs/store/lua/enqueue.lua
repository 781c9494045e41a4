-- ENQUEUE: store triggered jobs (every trigger and trigger_many). A job due now, of a queue not
-- paused, goes straight to a waiting worker if one is registered (one with a free slot whose
-- queue ran dry): locked for it as claimed ahead, its attempt counted, and published on the
-- worker's own channel (attempt, id length, id and stored job) so it starts without a round trip
-- of its own. When nobody receives that message (the worker is gone), the hand-off is undone and
-- the next waiting worker is tried. Waiting workers are woken for whatever was not handed off;
-- with none waiting nobody is woken (a busy worker claims at its next turn), and jobs with ids
-- just generated (not chosen by the caller) are stored in two calls for the whole batch. No job
-- is handed off while a worker enforces a rate limit or max_running on the queue (KEYS[4]): the
-- claim script decides those. A priority other than 0 enters the jobs in the priority set too.
--
-- KEYS[1] the queue (sorted set of job ids, scored by the ms they are due)
-- KEYS[2] the paused queues (set)
-- KEYS[3] the queue's waiting workers (sorted set of 'lock_ms token', scored by when they lapse)
-- KEYS[4] set while a worker enforces limits on the queue (no hand-offs then)
-- KEYS[5] the queue's priority set (sorted set, scored by -priority * 2^42 + due ms)
-- ARGV    wake channel, now ms, queue name, 1 if the ids were chosen by the caller (checked for a
--         job that holds them) or 0 if just generated (unique), priority of the batch (0: none),
--         then (id, stored job, due ms) per job
-- Returns 1/0 per job: 0 when the id is already queued, running or retained.

--!include prefixes
--!include priority
local now, chosen, priority = tonumber(ARGV[2]), ARGV[4] == '1', tonumber(ARGV[5])
local waiting = redis.call('EXISTS', KEYS[3]) == 1
local handing = waiting and redis.call('SISMEMBER', KEYS[2], ARGV[3]) == 0 and redis.call('EXISTS', KEYS[4]) == 0
local added, left = {}, 0
local function prioritise(id, due)
  redis.call('ZADD', KEYS[5], priority_score(priority, due), id)
end
if not chosen and not handing then  -- the common case under load: two calls for the whole batch
  local stored, scored = {}, {}
  for i = 6, #ARGV, 3 do
    stored[#stored + 1], stored[#stored + 2] = JOB .. ARGV[i], ARGV[i + 1]
    scored[#scored + 1], scored[#scored + 2] = ARGV[i + 2], ARGV[i]
    added[#added + 1] = 1
    if priority ~= 0 then prioritise(ARGV[i], ARGV[i + 2]) end
  end
  for first = 1, #stored, 2000 do redis.call('MSET', unpack(stored, first, math.min(first + 1999, #stored))) end
  for first = 1, #scored, 2000 do redis.call('ZADD', KEYS[1], unpack(scored, first, math.min(first + 1999, #scored))) end
  if waiting then redis.call(PUBLISH, ARGV[1], '1') end
  return added
end
if handing then
  local t = redis.call('TIME')
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
end
for i = 6, #ARGV, 3 do
  local id = ARGV[i]
  if not chosen or redis.call('EXISTS', JOB .. id, RECORD .. id) == 0 then
    redis.call('SET', JOB .. id, ARGV[i + 1])
    redis.call('ZADD', KEYS[1], ARGV[i + 2], id)
    if priority ~= 0 then prioritise(id, ARGV[i + 2]) end
    added[#added + 1] = 1
    left = left + 1
    while handing and tonumber(ARGV[i + 2]) <= now do
      local worker = redis.call('ZPOPMAX', KEYS[3])[1]
      if not worker then handing = false break end
      local lock_ms, token = string.match(worker, '^(%d+) (.+)$')
      redis.call('SET', LOCK .. id, token .. '+', 'PX', lock_ms)
      local attempt = redis.call('INCR', TRIES .. id)
      local message = attempt .. ' ' .. #id .. ' ' .. id .. ARGV[i + 1]
      if redis.call(PUBLISH, HANDOFF .. token, message) > 0 then
        left = left - 1
        break
      end
      redis.call('DEL', LOCK .. id, TRIES .. id)
    end
  else
    added[#added + 1] = 0
  end
end
if waiting and left > 0 then redis.call(PUBLISH, ARGV[1], '1') end
return added
