"""Observability: Prometheus metrics (`metrics`, `queue_gauges`, `metrics_server`) and OpenTelemetry
traces (`tracing`), each behind an optional extra. The worker holds a hook that is None while both
are off, so a job's path then costs one `if`; this layer imports neither extra unless it is used."""
