-- REMOVE: delete a queued, scheduled or retained job (`jobs remove`).
--
-- KEYS[1] the queue
-- KEYS[2] the completed set
-- KEYS[3] the failed set
-- KEYS[4] the cancelled set
-- ARGV    id
-- Returns 1 removed, 0 unknown, -1 running (untouched).

--!include prefixes
local id = ARGV[1]
if redis.call('EXISTS', LOCK .. id) == 1 and redis.call('EXISTS', JOB .. id) == 1 then return -1 end
local n = redis.call('DEL', JOB .. id, TRIES .. id, RECORD .. id)
for k = 1, 4 do n = n + redis.call('ZREM', KEYS[k], id) end
if n > 0 then return 1 end
return 0
