"""The Redis layer: every key, the Lua scripts that change a job's state atomically, the
connections they run on, and the reads of what Redis holds. It knows nothing of the worker."""
