-- The queue's priority set scores a job `-priority * 2^42 + due ms` (store/enqueue.py
-- PRIORITY_BAND): the highest priority sorts first, and due time orders the jobs of one priority.
local PRIORITY_BAND = 4398046511104  -- 2^42 ms: a priority's band of scores

local function score_text(x)  -- a score as Redis reads it back exactly (no exponent)
  return string.format('%.0f', x)
end

local function priority_score(priority, due)
  return score_text(-priority * PRIORITY_BAND + tonumber(due))
end

local function band_of(score)  -- the band (-priority * 2^42) a score lies in
  return math.floor(tonumber(score) / PRIORITY_BAND) * PRIORITY_BAND
end
