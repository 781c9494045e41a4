"""The worker's own counters: completions, failures, retries, cancels, run and wait times, running jobs.

Kept as plain numbers in objects bound once per (queue, job), not as prometheus_client metrics:
the worker's loop is the only writer and the scrape runs on the same loop (`metrics_server`), so
an update is an attribute increment and a histogram a `bisect`, with no lock and no allocation.
`collect` turns them into Prometheus metric families when scraped. Labels take job and queue
names only, and a name no definition of this worker has is counted as `<unknown>`: the series are
bounded by the job definitions.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.utils import floatToGoString

UNKNOWN = "<unknown>"  # a stored job no definition of this worker names
UNDECODABLE = "<undecodable>"  # stored bytes that are not a job
INF = float("inf")
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, INF)
WAIT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0, INF)
OUTCOMES = ("completed", "retried", "failed")


class Histogram:
    """One label set's histogram: a count per bucket (not cumulative; `collect` adds them up) and the sum."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * len(bounds)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1  # the first bound >= value: Prometheus's `le`
        self.sum += value

    def cumulative(self) -> list[tuple[str, float]]:
        total, buckets = 0, []
        for bound, count in zip(self.bounds, self.counts, strict=True):
            total += count
            buckets.append((floatToGoString(bound), float(total)))  # type: ignore[no-untyped-call]
        return buckets


class JobSeries:
    """Every number of one (queue, job), updated by the worker as an attempt starts and ends: a
    histogram observation is inlined (a `bisect` and two increments), this is the per-job path."""

    __slots__ = ("cancelled", "completed", "failed", "ran_completed", "ran_failed", "ran_retried", "retried", "wait")

    def __init__(self) -> None:
        self.completed = self.failed = self.retried = self.cancelled = 0
        self.ran_completed = Histogram(DURATION_BUCKETS)
        self.ran_retried = Histogram(DURATION_BUCKETS)
        self.ran_failed = Histogram(DURATION_BUCKETS)
        self.wait = Histogram(WAIT_BUCKETS)

    def started(self, waited_s: float) -> None:
        wait = self.wait
        if waited_s < 0:  # clocks of two hosts: a job is never started before it falls due
            waited_s = 0.0
        wait.counts[bisect_left(WAIT_BUCKETS, waited_s)] += 1
        wait.sum += waited_s

    def ended_completed(self, seconds: float) -> None:
        self.completed += 1
        ran = self.ran_completed
        ran.counts[bisect_left(DURATION_BUCKETS, seconds)] += 1
        ran.sum += seconds

    def ended_retried(self, seconds: float) -> None:
        self.retried += 1
        ran = self.ran_retried
        ran.counts[bisect_left(DURATION_BUCKETS, seconds)] += 1
        ran.sum += seconds

    def ended_failed(self, seconds: float) -> None:
        self.failed += 1
        ran = self.ran_failed
        ran.counts[bisect_left(DURATION_BUCKETS, seconds)] += 1
        ran.sum += seconds

    def rejected(self) -> None:
        """A final failure before anything ran (its stored bytes are no job)."""
        self.ended_failed(0.0)


class WorkerMetrics:
    """The series of a worker's queues, made up front for every defined job, so a rate of
    failures reads 0 rather than nothing before the first one."""

    def __init__(
        self, jobs_by_queue: Mapping[str, Iterable[str]], running: Callable[[], Mapping[str, int]] | None = None
    ) -> None:
        self._queues = list(jobs_by_queue)
        self.running = running or (lambda: {})  # attempts running now by queue (the worker's slots), read at scrape
        self._known = {queue: frozenset(names) for queue, names in jobs_by_queue.items()}
        self._series: dict[tuple[str, str], JobSeries] = {}
        for queue, names in self._known.items():
            for name in sorted(names):
                self.series(queue, name)

    def series(self, queue: str, job: str) -> JobSeries:
        """The series of `job` on `queue`, made on first use; a name this worker does not define
        shares `<unknown>`."""
        found = self._series.get((queue, job))
        if found is None:
            if job not in self._known.get(queue, ()) and job != UNDECODABLE:
                job = UNKNOWN
            found = self._series.get((queue, job))
            if found is None:
                found = self._series[(queue, job)] = JobSeries()
        return found

    def collect(self) -> Iterator[Any]:
        """The metric families, as prometheus_client's exposition asks a collector for them."""
        by_job = ["queue", "job"]
        completed = CounterMetricFamily("jobs_completed", "Jobs completed.", labels=by_job)
        failed = CounterMetricFamily("jobs_failed", "Jobs failed for good (no attempt left).", labels=by_job)
        retried = CounterMetricFamily("jobs_retried", "Attempts that failed and will run again.", labels=by_job)
        cancelled = CounterMetricFamily("jobs_cancelled", "Running attempts cancelled (jobs cancel).", labels=by_job)
        ran = HistogramMetricFamily(
            "jobs_duration_seconds", "Run time of an attempt, by outcome.", labels=["queue", "job", "outcome"]
        )
        waited = HistogramMetricFamily(
            "jobs_wait_seconds", "From the moment an attempt was due to its start.", labels=["queue", "job"]
        )
        for (queue, job), series in sorted(self._series.items()):
            labels = [queue, job]
            completed.add_metric(labels, series.completed)
            failed.add_metric(labels, series.failed)
            retried.add_metric(labels, series.retried)
            cancelled.add_metric(labels, series.cancelled)
            for outcome, histogram in zip(
                OUTCOMES, (series.ran_completed, series.ran_retried, series.ran_failed), strict=True
            ):
                ran.add_metric([queue, job, outcome], histogram.cumulative(), histogram.sum)
            waited.add_metric(labels, series.wait.cumulative(), series.wait.sum)
        running = GaugeMetricFamily("jobs_running", "Attempts running now in this process.", labels=["queue"])
        now = self.running()
        for queue in sorted(self._queues):
            running.add_metric([queue], now.get(queue, 0))
        yield from (completed, failed, retried, cancelled, ran, waited, running)
