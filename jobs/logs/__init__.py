"""Log setup and output: JSON lines or console text, written in batches, and the worker's
per-job events."""

from .configure import configure_logging

__all__ = ["configure_logging"]
