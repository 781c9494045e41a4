"""The pytest plugin's entry point (`jobs = "jobs.pytest_plugin"`): the very module object of
`jobs.testing.plugin`, so loading it by either name registers one plugin."""

import sys

from .testing import plugin

sys.modules[__name__] = plugin
