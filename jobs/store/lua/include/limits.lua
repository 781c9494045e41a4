-- Job control at claim time: the rules a worker passes (store/limits.py renders them), checked
-- and charged in Redis so every worker process shares them.
--   A rate limit is a sliding-window log: a sorted set of starts scored by Redis's clock (ms);
--   a start is admitted while fewer than `count` lie within the last `period` ms, so no window of
--   that length ever holds more than `count` (a fixed-window counter would allow twice that
--   across a window's edge). Blocked, it reports when its oldest start leaves the window.
--   max_running is a set of the job's ids holding a slot; an id counts while its lock lives
--   (the lock is renewed while the attempt runs and deleted when it ends, is retried or given
--   back, and lapses with a killed worker), so a slot frees exactly when the lock does.
-- Rules text: line 1 `ttl queue_count queue_period queue_rate_key cursor_key` (count 0: no queue limit),
-- then per job `name_json count period max_running rate_key running_key` (0: not limited so).

local function parse_rules(text)
  local rules = {by_name = {}, skipped = 0}
  for line in string.gmatch(text, '[^\n]+') do
    local f = {}
    for field in string.gmatch(line, '%S+') do f[#f + 1] = field end
    if not rules.ttl then
      rules.ttl, rules.cursor = f[1], f[5]
      if tonumber(f[2]) > 0 then rules.queue = {count = tonumber(f[2]), period = tonumber(f[3]), key = f[4]} end
    else
      local rule = {max = tonumber(f[4]), running_key = f[6]}
      if tonumber(f[2]) > 0 then rule.rate = {count = tonumber(f[2]), period = tonumber(f[3]), key = f[5]} end
      rules.by_name[f[1]] = rule
    end
  end
  return rules
end

-- The job's name as JSON, as it opens the stored layout ({"t":..,"q":..,"f":"name","a":[...]):
-- its first "f" comes before the payload. (A name holding a quote is not matched: not limited.)
local function name_of(data)
  return string.match(data, '"f":%s*("[^"]*")')
end

local function redis_ms(rules)
  if not rules.clock then
    local t = redis.call('TIME')
    rules.clock = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  return rules.clock
end

-- Whether the window has room for one more start; if not, notes when it will (rules.slot, Redis ms).
local function window_open(rules, w)
  if not w.used then
    local now = redis_ms(rules)
    redis.call('ZREMRANGEBYSCORE', w.key, '-inf', now - w.period)
    w.used = redis.call('ZCARD', w.key)
  end
  if w.used < w.count then return true end
  if not w.opens then
    local oldest = redis.call('ZRANGE', w.key, 0, 0, 'WITHSCORES')
    w.opens = (tonumber(oldest[2]) or redis_ms(rules)) + w.period + 1
    if not rules.slot or w.opens < rules.slot then rules.slot = w.opens end
  end
  return false
end

local function running_count(rule)
  if not rule.running then
    local n = 0
    for _, id in ipairs(redis.call('SMEMBERS', rule.running_key)) do
      if redis.call('EXISTS', LOCK .. id) == 1 then n = n + 1 else redis.call('SREM', rule.running_key, id) end
    end
    rule.running = n
  end
  return rule.running
end

-- Whether a job of `rule` (nil: no rule of its own) may start now under the queue's and its own limits.
local function admit(rules, rule)
  if rules.queue and not window_open(rules, rules.queue) then
    rules.full = true  -- every job of the queue waits: nothing more to claim in this call
    return false
  end
  if not rule then return true end
  if rule.max > 0 and running_count(rule) >= rule.max then
    rules.held = true
    return false
  end
  return not rule.rate or window_open(rules, rule.rate)
end

local function charge(rules, rule, id, attempt)
  local member = id .. ':' .. attempt
  for _, w in ipairs({rules.queue or false, rule and rule.rate or false}) do
    if w then
      redis.call('ZADD', w.key, redis_ms(rules), member)
      redis.call('PEXPIRE', w.key, w.period + 1000)
      w.used = w.used + 1
    end
  end
  if rule and rule.max > 0 then
    redis.call('SADD', rule.running_key, id)
    rule.running = rule.running + 1
  end
end
