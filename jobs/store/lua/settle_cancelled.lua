-- SETTLE_CANCELLED: retain a job its worker cancelled (a running attempt, or a job marked
-- cancelled before it started) as cancelled, only while the job is still this worker's (the lock
-- token is the fence, as in SETTLE_AND_CLAIM). Rare by nature: the hot script is left alone.
--
-- KEYS[1] the queue
-- KEYS[2] the cancelled set
-- ARGV    id, lock token, record JSON, how many cancelled records to keep
-- Returns 1 stored; 0 discarded (another worker holds the job now).

--!include prefixes
--!include batch
--!include priority
--!include finish
local id = ARGV[1]
if not still_mine(id, redis.call('GET', LOCK .. id), ARGV[2]) then return 0 end
local batch, keep = new_batch(), tonumber(ARGV[4])
retain(batch, KEYS[2], id, ARGV[3], keep, clock_us())
flush_retained(KEYS[1], batch)
trim(KEYS[2], keep)
return 1
