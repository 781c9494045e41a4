-- Commands over many keys at once, in slices a Lua stack takes (unpack has a limit): one call
-- for a turn's jobs instead of one each, where Redis's per-call cost is most of the work.
local SLICE = 1000

local function each_slice(list, per, call)
  for first = 1, #list, SLICE * per do
    call(unpack(list, first, math.min(first + SLICE * per - 1, #list)))
  end
end

local function mget(keys)
  local values = {}
  for first = 1, #keys, SLICE do
    local got = redis.call('MGET', unpack(keys, first, math.min(first + SLICE - 1, #keys)))
    for i = 1, #got do values[first + i - 1] = got[i] end
  end
  return values
end
