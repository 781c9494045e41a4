-- The key prefixes of the cluster layout (jobs/store/keys.py): every key of a queue shares its hash
-- tag, the queue's name in braces, which KEYS[1] (always one of the queue's keys) starts with.
local TAG = string.match(KEYS[1], '^{[^}]*}')
local JOB, LOCK = TAG .. ':job:', TAG .. ':lock:'
local TRIES, RECORD = TAG .. ':tries:', TAG .. ':record:'
local HANDOFF = TAG .. ':handoff:'
local PUBLISH = 'SPUBLISH'  -- sharded pub/sub: the message stays in the queue's shard
