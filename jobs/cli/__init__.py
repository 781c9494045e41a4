"""The `jobs` command: run a worker or the dashboard, trigger jobs, see what the queues hold, act
on failures and schedules. It sits on top of every other layer."""
