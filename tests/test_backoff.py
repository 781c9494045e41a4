"""Retry delays are a pure function of the policy and the failed attempt's number."""

from __future__ import annotations

import pytest

from jobs import Backoff


def test_exponential_backoff_doubles_from_the_base_delay() -> None:
    """The defaults give 3 s, 6 s, 12 s, 24 s after the 1st to 4th failed attempts."""
    backoff = Backoff.exponential(delay_ms=3000)
    assert [backoff.delay_after(n) for n in (1, 2, 3, 4)] == [3000, 6000, 12000, 24000]


def test_fixed_backoff_waits_the_same_after_every_failure() -> None:
    """A fixed policy never grows."""
    assert {Backoff.fixed(delay_ms=250).delay_after(n) for n in range(1, 10)} == {250}


def test_attempt_numbers_are_one_based() -> None:
    """There is no 0th failed attempt; asking for one is a bug in the caller."""
    with pytest.raises(ValueError, match="1-based"):
        Backoff.exponential().delay_after(0)


def test_a_negative_delay_is_rejected_at_definition() -> None:
    """A negative wait cannot be scheduled."""
    with pytest.raises(ValueError, match="delay_ms"):
        Backoff.fixed(delay_ms=-1)


def test_backoff_reads_well_in_listings() -> None:
    """`jobs list` and logs show the policy compactly."""
    assert str(Backoff.exponential(delay_ms=3000)) == "exponential(3000ms)"
