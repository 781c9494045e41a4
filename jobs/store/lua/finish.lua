-- FINISH: store one finished job's record, for arq's own worker (arq_compat), whose lock is `1`
-- for every worker, so no token can fence it: the outcome is stored only while the job is (the
-- job of a worker that took over and finished it is not).
--
-- KEYS[1] the queue
-- KEYS[2] the retained set of the outcome (completed or failed)
-- ARGV    id, record JSON, how many records of the outcome to keep
-- Returns 1, or 0 when the outcome was discarded.

--!include prefixes
--!include batch
--!include priority
--!include finish
if redis.call('EXISTS', JOB .. ARGV[1]) == 0 then return 0 end
local batch = new_batch()
retain(batch, KEYS[2], ARGV[1], ARGV[2], tonumber(ARGV[3]), clock_us())
flush_retained(KEYS[1], batch)
trim(KEYS[2], tonumber(ARGV[3]))
return 1
