-- ENQUEUE: store triggered jobs (every trigger and trigger_many). A job due now, of a queue not
-- paused, goes straight to an idle worker if one is registered: locked for it as claimed ahead,
-- its attempt counted, and published on the worker's own channel (attempt, id length, id and
-- stored job) so it starts without a round trip of its own. When nobody receives that message
-- (the worker is gone), the hand-off is undone and the next idle worker is tried. Workers are
-- woken for whatever was not handed off.
--
-- KEYS[1] the queue (sorted set of job ids, scored by the ms they are due)
-- KEYS[2] the paused queues (set)
-- KEYS[3] the queue's idle workers (sorted set of 'lock_ms token', scored by when they lapse)
-- ARGV    wake channel, now ms, queue name, then (id, stored job, due ms) per job
-- Returns 1/0 per job: 0 when the id is already queued, running or retained.

--!include prefixes
local added, waiting = {}, 0
local now = tonumber(ARGV[2])
local handing = redis.call('EXISTS', KEYS[3]) == 1 and redis.call('SISMEMBER', KEYS[2], ARGV[3]) == 0
if handing then
  local t = redis.call('TIME')
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
end
for i = 4, #ARGV, 3 do
  local id = ARGV[i]
  if redis.call('EXISTS', JOB .. id, RECORD .. id) == 0 then
    redis.call('SET', JOB .. id, ARGV[i + 1])
    redis.call('ZADD', KEYS[1], ARGV[i + 2], id)
    added[#added + 1] = 1
    waiting = waiting + 1
    while handing and tonumber(ARGV[i + 2]) <= now do
      local worker = redis.call('ZPOPMAX', KEYS[3])[1]
      if not worker then handing = false break end
      local lock_ms, token = string.match(worker, '^(%d+) (.+)$')
      redis.call('SET', LOCK .. id, token .. '+', 'PX', lock_ms)
      local attempt = redis.call('INCR', TRIES .. id)
      local message = attempt .. ' ' .. #id .. ' ' .. id .. ARGV[i + 1]
      if redis.call('PUBLISH', HANDOFF .. token, message) > 0 then
        waiting = waiting - 1
        break
      end
      redis.call('DEL', LOCK .. id, TRIES .. id)
    end
  else
    added[#added + 1] = 0
  end
end
if waiting > 0 then redis.call('PUBLISH', ARGV[1], '1') end
return added
