"""Operating queues: `jobs.admin` (counts, retries, removal, pauses) and the `jobs` command."""
