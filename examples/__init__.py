"""Example jobs for `make demo`."""
