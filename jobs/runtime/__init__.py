"""The worker: every queue of a process, one attempt at a time through `execution`, outcomes
stored in batches, graceful shutdown; and the same jobs under arq's own loop (`arq_compat`)."""
