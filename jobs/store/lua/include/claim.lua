-- Lock up to `want` due jobs of a queue that is not paused and count their attempt. A running
-- job stays in the queue (arq's model), so locked ids are skipped. A lock holds its worker's
-- token; beyond the `free` slots the worker starts at once, `token+`: claimed ahead, not running
-- yet (readers count it as queued). Appends (id, stored job or false, attempt, ahead 1/0, due ms) per job
-- to `out`, whose first item is the next due ms or -1, looked up only when nothing was claimed;
-- returns how many it claimed.
--
-- Include limits and priority first. Job control, only where used: with `rules` (a rate limit
-- or max_running on the queue), a job over its limit is skipped (at most MAX_SKIPPED a call),
-- not locked and not charged, so jobs behind it are claimed; nothing is claimed ahead on such a queue (a limited
-- job's start is its claim, and looking further for an unlimited one would cost a GET per job);
-- when nothing was claimed, out[1] is also the time the next window opens. With jobs in
-- the priority set (`prioritised`), due ones are taken from the highest priority down: positive
-- priorities before the queue's priority-0 jobs, negative ones after.
--
-- The held cursor (rules.cursor's key) is a place in that order, where a claim cut short by
-- MAX_SKIPPED held jobs stopped looking: `q<id>` in the queue's priority-0 jobs, `p<score> <id>`
-- in the priority set. The next claims resume there and look at nothing before it until the
-- key lapses (when a window may open, 1 s at most), so any backlog of held jobs, at any
-- priority, is looked past once, and the jobs behind it start.
local SCAN = 20000
local MAX_SKIPPED = 250  -- jobs held by a limit that one claim looks past (each costs a GET, ~5 us)

local function claim(out, queue, paused, now, want, free, lock_ms, queue_name, token, prio, prioritised, rules)
  local claimed, now_n = 0, tonumber(now)
  if want < 1 or redis.call('SISMEMBER', paused, queue_name) == 1 then return 0 end
  local jobs, slots = {}, {}  -- the claimed jobs whose data is still to be read, and where it goes

  -- `score`: the job's score in the priority set (nil: a priority-0 job), where a cursor would resume.
  local function take(id, due, score)
    local ahead = claimed >= free
    if not rules then
      if not redis.call('SET', LOCK .. id, ahead and token .. '+' or token, 'NX', 'PX', lock_ms) then return end
    else
      local held = redis.call('MGET', LOCK .. id, JOB .. id)
      if held[1] then return end
      local data = held[2]
      local rule = data and rules.by_name[name_of(data) or '']
      if rule or rules.queue then
        if not admit(rules, rule) then
          rules.skipped = rules.skipped + 1
          rules.last = score and ('p' .. score_text(tonumber(score)) .. ' ' .. id) or ('q' .. id)
          return
        end
      end
      redis.call('SET', LOCK .. id, ahead and token .. '+' or token, 'PX', lock_ms)
      local attempt = redis.call('INCR', TRIES .. id)
      if rule or rules.queue then charge(rules, rule, id, attempt) end
      local at = #out
      out[at + 1], out[at + 2], out[at + 3], out[at + 4], out[at + 5] = id, data, attempt, ahead and 1 or 0, due
      claimed = claimed + 1
      return
    end
    local at = #out
    out[at + 1], out[at + 2], out[at + 3] = id, false, redis.call('INCR', TRIES .. id)
    out[at + 4], out[at + 5] = ahead and 1 or 0, due
    jobs[#jobs + 1], slots[#slots + 1] = JOB .. id, at + 2
    claimed = claimed + 1
  end

  local function done()
    return claimed >= want or (rules and (claimed >= free or rules.full or rules.skipped >= MAX_SKIPPED))
  end

  -- The queue's due jobs in due order; with prioritised jobs, only those of priority 0; after
  -- the job `resumed` when a cursor is there.
  local function scan_queue(resumed)
    local offset, batch, from = 0, want + 64, nil
    if resumed then
      from = redis.call('ZRANK', queue, resumed)
      if from then offset = from + 1 end
    end
    while not done() and offset < SCAN + (from or 0) do
      local due
      if from then  -- by rank from the cursor, as far as the due jobs go
        due = redis.call('ZRANGE', queue, offset, offset + batch - 1, 'WITHSCORES')
      else
        due = redis.call('ZRANGEBYSCORE', queue, '-inf', now, 'WITHSCORES', 'LIMIT', offset, batch)
      end
      for i = 1, #due, 2 do
        if from and tonumber(due[i + 1]) > now_n then return end
        if not (prioritised and redis.call('ZSCORE', prio, due[i])) then take(due[i], due[i + 1]) end
        if done() then break end
      end
      if #due < batch * 2 then break end
      offset = offset + batch
    end
  end

  -- Where the next claim resumes its scan: after the last job this one looked past, while no
  -- window it saw can have opened (and 200 ms at most while a job is held by max_running).
  local function keep_cursor()
    if not (rules and rules.cursor) then return end
    if not (rules.skipped >= MAX_SKIPPED and rules.last) then return end
    local ttl = 1000
    if rules.slot then ttl = math.min(ttl, rules.slot - redis_ms(rules)) end
    if rules.held then ttl = math.min(ttl, 200) end
    local left = redis.call('PTTL', rules.cursor)
    if left > 0 then ttl = math.min(ttl, left) end
    if ttl >= 1 then redis.call('SET', rules.cursor, rules.last, 'PX', ttl) end
  end

  -- The due jobs of the priority set with scores from `lo` to `hi`, one band (priority) at a time;
  -- after the job (`after_score`, `after_id`) when a cursor is there: from its score, past the
  -- jobs of equal score up to it (by rank, as the set orders them; all of them if it is gone).
  local function scan_bands(lo, hi, after_score, after_id)
    local cursor, batch, from, offset = lo, want + 64, nil, 0
    if after_score then
      cursor, from = score_text(after_score), after_score
      if tonumber(redis.call('ZSCORE', prio, after_id)) == after_score then
        offset = redis.call('ZRANK', prio, after_id) + 1 - redis.call('ZCOUNT', prio, '-inf', '(' .. cursor)
      end
    end
    while not done() do
      local head = redis.call('ZRANGEBYSCORE', prio, cursor, hi, 'WITHSCORES', 'LIMIT', 0, 1)
      if #head == 0 then return end
      local band = band_of(head[2])
      if not (from and from >= band) then from, offset = band, 0 end
      while not done() and offset < SCAN do
        local ids  -- with scores only where a cursor may be kept (rules)
        if rules then
          ids = redis.call(
            'ZRANGEBYSCORE', prio, score_text(from), score_text(band + now_n), 'WITHSCORES', 'LIMIT', offset, batch)
        else
          ids = redis.call('ZRANGEBYSCORE', prio, score_text(from), score_text(band + now_n), 'LIMIT', offset, batch)
        end
        local step = rules and 2 or 1
        for i = 1, #ids, step do
          local due = redis.call('ZSCORE', queue, ids[i])
          if not due then  -- finished or removed meanwhile
            redis.call('ZREM', prio, ids[i])
            offset = offset - 1
          elseif tonumber(due) <= now_n then
            take(ids[i], due, rules and ids[i + 1])
          end
          if done() then break end
        end
        if #ids < batch * step then break end
        offset = offset + batch
      end
      cursor, from = score_text(band + PRIORITY_BAND), nil
    end
  end

  -- Where a previous claim cut short stopped (the held cursor): the phase it was in, and its place.
  local phase, after_score, after_id = 0, nil, nil
  local resumed = rules and rules.cursor and redis.call('GET', rules.cursor)
  if resumed then
    local score, id = string.match(resumed, '^p(%-?%d+) (.*)$')
    if score and prioritised then
      after_score, after_id = tonumber(score), id
      phase = after_score < 0 and 1 or 3
    elseif string.sub(resumed, 1, 1) == 'q' then
      after_id, phase = string.sub(resumed, 2), 2
    end
  end
  if prioritised and phase <= 1 then scan_bands('-inf', '(0', after_score, after_id) end
  if not done() and phase <= 2 then scan_queue(phase == 2 and after_id) end
  if prioritised and not done() then
    scan_bands(score_text(PRIORITY_BAND), '+inf', phase == 3 and after_score or nil, after_id)
  end
  keep_cursor()

  if #jobs > 0 then  -- every claimed job's data in one call
    local data = mget(jobs)
    for k = 1, #jobs do out[slots[k]] = data[k] end
  end
  if claimed == 0 and #out == 1 then
    local nxt = redis.call('ZRANGEBYSCORE', queue, '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
    local next_due = tonumber(nxt[2] or -1)
    if rules and rules.skipped >= MAX_SKIPPED then
      next_due = now_n  -- cut short looking past held jobs: the next claim resumes at the cursor, now
    elseif rules and rules.slot then  -- the next window opens then (Redis's clock, as the worker's)
      local opens = now_n + rules.slot - redis_ms(rules)
      if next_due < 0 or opens < next_due then next_due = opens end
    elseif rules and rules.held and (next_due < 0 or next_due > now_n + 200) then
      next_due = now_n + 200  -- held by max_running elsewhere: look again soon (its worker claims at once too)
    end
    out[1] = next_due
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
