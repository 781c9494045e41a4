-- CANCEL: cancel a job (`jobs cancel`). A queued or scheduled one is removed and retained as
-- cancelled, at once. One a worker holds (running, or claimed and about to start) is marked in
-- its stored job (a leading `"cancel":1`, which whichever worker starts it reads with the job,
-- a takeover's included) and its queue's workers are told on the wake channel, where the one
-- running it cancels its task. A finished job is left as it is.
--
-- KEYS[1] the queue
-- KEYS[2] the cancelled set
-- ARGV    id, the stored job as the caller read it (the record is built from it), record JSON,
--         how many cancelled records to keep, the queue's wake channel, the cancel message
-- Returns 1 removed and retained; 2 held by a worker: marked, its worker told; 0 finished
-- (retained, unchanged); -1 unknown; -2 the stored job changed since it was read (read again).

--!include prefixes
--!include batch
--!include priority
--!include finish
local id = ARGV[1]
local job = redis.call('GET', JOB .. id)
if not job then
  if redis.call('EXISTS', RECORD .. id) == 1 then return 0 end
  return -1
end
if redis.call('EXISTS', LOCK .. id) == 1 then
  if string.sub(job, 1, 11) ~= '{"cancel":1' and string.sub(job, 1, 2) == '{"' then
    redis.call('SET', JOB .. id, '{"cancel":1,' .. string.sub(job, 2), 'KEEPTTL')
  end
  redis.call(PUBLISH, ARGV[5], ARGV[6])
  return 2
end
if job ~= ARGV[2] then return -2 end
local batch, keep = new_batch(), tonumber(ARGV[4])
retain(batch, KEYS[2], id, ARGV[3], keep, clock_us())
flush_retained(KEYS[1], batch)
trim(KEYS[2], keep)
return 1
