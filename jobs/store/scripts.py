"""Server-side Lua scripts: each state change of a job is one atomic round trip.

Key names are built inside the scripts from the prefixes in `keys`, as arq does (single Redis,
not cluster). The stored job stays in arq's layout so arq's own worker can run it too.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from . import keys


@dataclass(frozen=True, slots=True)
class LuaScript:
    """A script called by its SHA1; loaded again whenever Redis answers NOSCRIPT (a restart)."""

    text: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.text.encode()).hexdigest())


_PREFIXES = f"""
local JOB, LOCK = '{keys.JOB_PREFIX}', '{keys.LOCK_PREFIX}'
local TRIES, RECORD = '{keys.TRIES_PREFIX}', '{keys.RECORD_PREFIX}'
local HANDOFF = '{keys.HANDOFF_CHANNEL_PREFIX}'
"""

# KEYS: queue, paused set, idle workers. ARGV: wake channel, now ms, queue name, then (id, stored
# job, due ms) per job. A job due now, of a queue not paused, goes straight to an idle worker if
# one is registered: locked for it as claimed ahead, its attempt counted, and published on the
# worker's own channel (attempt, id length, id and stored job) so it starts without a round trip
# of its own. When nobody receives that message (the worker is gone), the hand-off is undone and
# the next idle worker is tried. Workers are woken for whatever was not handed off.
# Returns 1/0 per job: 0 when the id is already queued, running or retained.
ENQUEUE = LuaScript(
    _PREFIXES
    + """
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
"""
)

# `retain` removes every trace of a live job and keeps its record in `retained`; `trim` deletes
# the oldest records beyond `keep`. Retained ids are scored by Redis' clock in microseconds (one
# microsecond apart within a batch), so "latest" is the order of finishing.
_FINISH_FN = """
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
"""

# Lock up to `want` due jobs of a queue that is not paused and count their attempt. A running
# job stays in the queue (arq's model), so locked ids are skipped. A lock holds its worker's
# token; beyond the `free` slots the worker starts at once, `token+`: claimed ahead, not running
# yet (readers count it as queued). Appends (id, stored job or false, attempt, ahead 1/0) per job
# to `out`, whose first item is the next due ms or -1, looked up only when nothing was claimed.
_CLAIM_FN = """
local function claim(out, queue, paused, now, want, free, lock_ms, queue_name, token)
  local claimed, offset, batch = 0, 0, want + 64
  if want < 1 or redis.call('SISMEMBER', paused, queue_name) == 1 then return out end
  while claimed < want and offset < 20000 do
    local ids = redis.call('ZRANGEBYSCORE', queue, '-inf', now, 'LIMIT', offset, batch)
    for _, id in ipairs(ids) do
      local ahead = claimed >= free
      if redis.call('SET', LOCK .. id, ahead and token .. '+' or token, 'NX', 'PX', lock_ms) then
        out[#out + 1] = id
        out[#out + 1] = redis.call('GET', JOB .. id)
        out[#out + 1] = redis.call('INCR', TRIES .. id)
        out[#out + 1] = ahead and 1 or 0
        claimed = claimed + 1
        if claimed == want then break end
      end
    end
    if #ids < batch then break end
    offset = offset + batch
  end
  if claimed == 0 and #out == 1 then
    local nxt = redis.call('ZRANGEBYSCORE', queue, '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
    out[1] = nxt[2] or -1
  end
  return out
end

-- Due jobs locked with `token` that the worker is not running (`mine`): claimed in a turn whose
-- reply was lost. Handed over again with the attempt already counted; returns how many.
local function recover(out, queue, now, token, mine)
  local found = 0
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', queue, '-inf', now, 'LIMIT', 0, 20000)) do
    local lock = redis.call('GET', LOCK .. id)
    if not mine[id] and (lock == token or lock == token .. '+') then
      out[#out + 1] = id
      out[#out + 1] = redis.call('GET', JOB .. id)
      out[#out + 1] = tonumber(redis.call('GET', TRIES .. id) or '1')
      out[#out + 1] = lock == token and 0 or 1
      found = found + 1
    end
  end
  return found
end
"""

# The worker's one round trip per turn: store the outcomes of finished attempts, then claim.
# KEYS: queue, paused set, completed set, failed set, idle workers.
# ARGV: now ms, how many to claim, lock ms, queue name, lock token, how many start at once, how
#   long to stay registered as idle (ms) if nothing is claimed (0: not idle), then n: -1 normally,
#   or after a failed turn the count of the running ids that follow (recover what the lost reply
#   claimed, or a hand-off whose message was lost); then per outcome (kind, id, data, keep):
#   'c' completed / 'f' failed (data: the record JSON), 'r' retry (data: due ms), 'u' unclaim
#   (data: the attempt the worker is already running), 's' started (a job claimed ahead now runs).
#   Each is applied only while the job is still this worker's (`still_mine`, the lock token is the
#   fence); a 'c', 'f' or 'r' that is not is discarded and reported.
# Returns {next due ms or -1, then (id, stored job or false, attempt, ahead 1/0) per claimed job};
# the first item is {next due ms or -1, discarded id, ...} when an outcome was discarded.
SETTLE_AND_CLAIM = LuaScript(
    _PREFIXES
    + _FINISH_FN
    + _CLAIM_FN
    + """
local n_mine = tonumber(ARGV[8])
local first = 9 + math.max(n_mine, 0)
local keep, now_us, discarded = {}, nil, nil
for i = first, #ARGV, 4 do
  local kind, id, data = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if not still_mine(id, ARGV[5]) then
    if kind ~= 'u' and kind ~= 's' then
      discarded = discarded or {}
      discarded[#discarded + 1] = id
    end
  elseif kind == 'r' then
    if redis.call('EXISTS', JOB .. id) == 1 then redis.call('ZADD', KEYS[1], data, id) end
    redis.call('DEL', LOCK .. id)
  elseif kind == 'u' then
    redis.call('SET', TRIES .. id, data)
  elseif kind == 's' then
    redis.call('SET', LOCK .. id, ARGV[5], 'XX', 'PX', ARGV[3])
  else
    local retained = kind == 'c' and KEYS[3] or KEYS[4]
    now_us = (now_us or clock_us()) + 1
    keep[retained] = tonumber(ARGV[i + 3])
    retain(KEYS[1], retained, id, data, keep[retained], now_us)
  end
end
for retained, n in pairs(keep) do trim(retained, n) end  -- once per batch, with the last job's limit
local out, want = {-1}, tonumber(ARGV[2])
if n_mine >= 0 then
  local mine = {}
  for i = 9, first - 1 do mine[ARGV[i]] = true end
  want = want - recover(out, KEYS[1], ARGV[1], ARGV[5], mine)
end
local free = tonumber(ARGV[6]) - (#out - 1) / 4
claim(out, KEYS[1], KEYS[2], ARGV[1], want, free, ARGV[3], ARGV[4], ARGV[5])
local registration = ARGV[3] .. ' ' .. ARGV[5]
if ARGV[7] ~= '0' and #out == 1 then
  local t = redis.call('TIME')
  local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('ZADD', KEYS[5], now_ms + tonumber(ARGV[7]), registration)
else
  redis.call('ZREM', KEYS[5], registration)
end
if discarded then
  table.insert(discarded, 1, out[1])
  out[1] = discarded
end
return out
"""
)

# KEYS: queue, retained set of the outcome. ARGV: id, record JSON, how many to keep.
# For arq's own worker, whose lock is `1` for every worker, so no token can fence it: the outcome
# is stored only while the job is (the job of a worker that took over and finished it is not).
# Returns 1, or 0 when the outcome was discarded.
FINISH = (
    _PREFIXES
    + _FINISH_FN
    + """
if redis.call('EXISTS', JOB .. ARGV[1]) == 0 then return 0 end
retain(KEYS[1], KEYS[2], ARGV[1], ARGV[2], tonumber(ARGV[3]), clock_us())
trim(KEYS[2], tonumber(ARGV[3]))
return 1
"""
)

# ARGV: id, the releasing worker's lock token. Give back an interrupted attempt (graceful
# shutdown) or a job claimed ahead: unlock it, uncount it; not if another worker holds it now.
RELEASE = (
    _PREFIXES
    + """
local lock = redis.call('GET', LOCK .. ARGV[1])
if lock and lock ~= ARGV[2] and lock ~= ARGV[2] .. '+' then return 0 end
redis.call('DEL', LOCK .. ARGV[1])
local tries = tonumber(redis.call('GET', TRIES .. ARGV[1]) or '0')
if tries > 1 then redis.call('DECR', TRIES .. ARGV[1]) else redis.call('DEL', TRIES .. ARGV[1]) end
return 1
"""
)

# ARGV: lock ms, the worker's lock token, then the ids of the jobs it holds. Renews each lock
# that is still this worker's (`token` or `token+`); returns 1/0 per id (0: lapsed or taken over).
RENEW_LOCKS = (
    _PREFIXES
    + """
local renewed = {}
for i = 3, #ARGV do
  local lock = redis.call('GET', LOCK .. ARGV[i])
  if lock == ARGV[2] or lock == ARGV[2] .. '+' then
    redis.call('PEXPIRE', LOCK .. ARGV[i], ARGV[1])
    renewed[#renewed + 1] = 1
  else
    renewed[#renewed + 1] = 0
  end
end
return renewed
"""
)


# KEYS: queue, completed set, failed set, paused set. ARGV: now ms, queue name, first rank, how many.
# A running job stays in the queue, locked: the locks are counted among the due ids ranked
# [first, first + how many), so a caller walks a long backlog in slices instead of blocking Redis.
# Returns {due, not yet due, locked in the slice, completed, failed, paused 1/0}.
QUEUE_COUNTS = (
    _PREFIXES
    + """
local due = redis.call('ZCOUNT', KEYS[1], '-inf', ARGV[1])
local first = tonumber(ARGV[3])
local last = math.min(first + tonumber(ARGV[4]), due) - 1
local locked = 0
if last >= first then
  for _, id in ipairs(redis.call('ZRANGE', KEYS[1], first, last)) do
    local lock = redis.call('GET', LOCK .. id)
    if lock and string.sub(lock, -1) ~= '+' then locked = locked + 1 end  -- 'token+': claimed ahead, queued
  end
end
return {due, redis.call('ZCARD', KEYS[1]) - due, locked, redis.call('ZCARD', KEYS[2]),
        redis.call('ZCARD', KEYS[3]), redis.call('SISMEMBER', KEYS[4], ARGV[2])}
"""
)

# KEYS: failed set, queue. ARGV: id, stored job, due ms, wake channel.
# Run a retained failure again with fresh attempts: its record goes, the stored job comes back.
# Returns 1; 0 when the id is no longer a retained failure (retried or trimmed meanwhile);
# -1 when a live job holds the id.
RETRY_FAILED = (
    _PREFIXES
    + """
local id = ARGV[1]
if not redis.call('ZSCORE', KEYS[1], id) or redis.call('EXISTS', RECORD .. id) == 0 then return 0 end
if redis.call('EXISTS', JOB .. id, LOCK .. id) > 0 then return -1 end
redis.call('DEL', RECORD .. id, TRIES .. id)
redis.call('ZREM', KEYS[1], id)
redis.call('SET', JOB .. id, ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], id)
redis.call('PUBLISH', ARGV[4], '1')
return 1
"""
)

# KEYS: queue, completed set, failed set. ARGV: id.
# Remove a queued, scheduled or retained job. Returns 1 removed, 0 unknown, -1 running (untouched).
REMOVE = (
    _PREFIXES
    + """
local id = ARGV[1]
if redis.call('EXISTS', LOCK .. id) == 1 and redis.call('EXISTS', JOB .. id) == 1 then return -1 end
local n = redis.call('DEL', JOB .. id, TRIES .. id, RECORD .. id)
n = n + redis.call('ZREM', KEYS[1], id) + redis.call('ZREM', KEYS[2], id) + redis.call('ZREM', KEYS[3], id)
if n > 0 then return 1 end
return 0
"""
)


@dataclass(frozen=True, slots=True)
class Scripts:
    """The colder scripts, registered on one client (EVALSHA, loaded again if Redis forgot them);
    the hot ones go through `script_link`."""

    finish: AsyncScript
    release: AsyncScript
    renew_locks: AsyncScript

    @classmethod
    def register(cls, client: Redis) -> Scripts:
        return cls(
            finish=client.register_script(FINISH),
            release=client.register_script(RELEASE),
            renew_locks=client.register_script(RENEW_LOCKS),
        )
