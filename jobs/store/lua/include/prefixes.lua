-- The key and channel prefixes of the default layout (jobs/store/keys.py), filled in at load.
local JOB, LOCK = '${JOB_PREFIX}', '${LOCK_PREFIX}'
local TRIES, RECORD = '${TRIES_PREFIX}', '${RECORD_PREFIX}'
local HANDOFF = '${HANDOFF_CHANNEL_PREFIX}'
local PUBLISH = 'PUBLISH'
