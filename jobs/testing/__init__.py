"""Testing support: triggers that record instead of enqueueing, running what they recorded in the
test's own process, and a real worker in burst mode for end-to-end tests.

The pytest plugin (`jobs.testing.plugin`, entry point `jobs`) wraps every test in `mock_triggers()`.
"""

from .burst import BurstWorker
from .inline import reported_progress, run_triggered
from .mocks import MockedJobHandle, NotRunError, Triggered, TriggerLog, mock_triggers, mocked, triggered

__all__ = [
    "BurstWorker",
    "MockedJobHandle",
    "NotRunError",
    "TriggerLog",
    "Triggered",
    "mock_triggers",
    "mocked",
    "reported_progress",
    "run_triggered",
    "triggered",
]
