"""First in the worker's JOBS_MODULES, so its provider is set before the worker starts:
JOBS_MODULES=examples.worker_telemetry,examples.jobs jobs worker"""

from examples.telemetry import setup_tracing

setup_tracing("signup-worker")
