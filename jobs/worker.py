"""`jobs.worker.Worker`, the public path of `jobs.runtime.worker`."""

from .runtime.worker import Worker

__all__ = ["Worker"]
