-- RENEW_LOCKS: extend the locks a worker holds, each only while it is still this worker's
-- (`token`, or `token+` for a job claimed ahead).
--
-- KEYS[1] the queue (in a cluster, the hash tag the locks' keys are built with)
-- ARGV    lock ms, the worker's lock token, then the ids of the jobs it holds
-- Returns 1/0 per id (0: lapsed or taken over).

--!include prefixes
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
