"""What a process has done, in the Prometheus text format, and whether it can work at all.

Counters and histograms live in the process that observes them: a worker counts its stages
and uploads, and whoever scrapes the fleet adds the processes up (the usual Prometheus way).
Queue depths and the live workers (their heartbeats, jobs.fleet) are read from Redis when
scraped, so every process shows the same numbers for those.

Served at `/metrics` and `/healthz` by the bot's web server, and by `leap worker` on
`WORKER_WEB_PORT`.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import math
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import sqlalchemy as sa
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jobs.fleet import live_workers
from jobs.queues import QUEUES

log = logging.getLogger(__name__)

Labels = tuple[str, ...]

# Stage durations run from a second (subtitles) to hours (fetching a long recording).
DURATION_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 10800)


class _Metric:
    kind = ""

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help_text
        self.label_names = tuple(labels)
        self._lock = threading.Lock()

    def _key(self, labels: dict[str, str]) -> Labels:
        if set(labels) != set(self.label_names):
            raise ValueError(f"{self.name} takes labels {self.label_names}, not {sorted(labels)}")
        return tuple(str(labels[n]) for n in self.label_names)

    def _label_text(self, key: Labels, extra: dict[str, str] | None = None) -> str:
        pairs = list(zip(self.label_names, key, strict=True)) + list((extra or {}).items())
        if not pairs:
            return ""
        return "{" + ",".join(f'{n}="{_escape(v)}"' for n, v in pairs) + "}"

    def lines(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]


class Counter(_Metric):
    kind = "counter"

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labels)
        self._values: dict[Labels, float] = {}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        return self._values.get(self._key(labels), 0.0)

    def lines(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items())
        return super().lines() + [
            f"{self.name}{self._label_text(k)} {_number(v)}" for k, v in items
        ]


class Gauge(_Metric):
    """A value that goes up and down; `peak` remembers the highest it has been.

    With `show_peak` the peak is exported too, as ``<name>_max``.
    """

    kind = "gauge"

    def __init__(
        self, name: str, help_text: str, labels: Sequence[str] = (), *, show_peak: bool = False
    ) -> None:
        super().__init__(name, help_text, labels)
        self.show_peak = show_peak
        self._values: dict[Labels, float] = {}
        self._peaks: dict[Labels, float] = {}

    def add(self, amount: float, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            value = self._values.get(key, 0.0) + amount
            self._values[key] = value
            self._peaks[key] = max(self._peaks.get(key, value), value)

    def set(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = value
            self._peaks[key] = max(self._peaks.get(key, value), value)

    def value(self, **labels: str) -> float:
        return self._values.get(self._key(labels), 0.0)

    def peak(self, **labels: str) -> float:
        return self._peaks.get(self._key(labels), 0.0)

    def lines(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items())
            peaks = sorted(self._peaks.items())
        out = super().lines() + [f"{self.name}{self._label_text(k)} {_number(v)}" for k, v in items]
        if self.show_peak:
            peak = f"{self.name}_max"
            out += [f"# HELP {peak} The highest {self.name} since the process started."]
            out += [f"# TYPE {peak} gauge"]
            out += [f"{peak}{self._label_text(k)} {_number(v)}" for k, v in peaks]
        return out


@dataclass
class _Series:
    counts: list[int]
    total: float = 0.0
    count: int = 0


class Histogram(_Metric):
    kind = "histogram"

    def __init__(
        self,
        name: str,
        help_text: str,
        labels: Sequence[str] = (),
        buckets: Sequence[float] = DURATION_BUCKETS,
    ) -> None:
        super().__init__(name, help_text, labels)
        self.buckets = tuple(sorted(buckets))
        self._series: dict[Labels, _Series] = {}

    def observe(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            series = self._series.setdefault(key, _Series([0] * len(self.buckets)))
            index = bisect.bisect_left(self.buckets, value)
            if index < len(self.buckets):
                series.counts[index] += 1
            series.total += value
            series.count += 1

    def count(self, **labels: str) -> int:
        series = self._series.get(self._key(labels))
        return series.count if series else 0

    def lines(self) -> list[str]:
        with self._lock:
            items = sorted(
                (k, _Series(list(s.counts), s.total, s.count)) for k, s in self._series.items()
            )
        out = super().lines()
        for key, series in items:
            running = 0
            for bound, count in zip(self.buckets, series.counts, strict=True):
                running += count
                labels = self._label_text(key, {"le": _number(bound)})
                out.append(f"{self.name}_bucket{labels} {running}")
            out.append(f"{self.name}_bucket{self._label_text(key, {'le': '+Inf'})} {series.count}")
            out.append(f"{self.name}_sum{self._label_text(key)} {_number(series.total)}")
            out.append(f"{self.name}_count{self._label_text(key)} {series.count}")
        return out


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if value != int(value) else str(int(value))


M = TypeVar("M", bound=_Metric)


@dataclass
class Registry:
    metrics: list[_Metric] = field(default_factory=list)

    def add(self, metric: M) -> M:
        self.metrics.append(metric)
        return metric

    def lines(self) -> list[str]:
        out: list[str] = []
        for metric in self.metrics:
            out += metric.lines()
        return out


REGISTRY = Registry()

STAGE_SECONDS = REGISTRY.add(
    Histogram(
        "leap_stage_duration_seconds",
        "Time one run of a pipeline stage took, by stage and outcome (done, failed, retry).",
        ["stage", "outcome"],
    )
)
STAGE_FAILURES = REGISTRY.add(
    Counter(
        "leap_stage_failures_total",
        "Stages that failed for good, by stage and reason (the failure code the chat was given).",
        ["stage", "reason"],
    )
)
STAGE_RETRIES = REGISTRY.add(
    Counter(
        "leap_stage_retries_total",
        "Stage runs put back for a later try after a transient fault, by stage and reason.",
        ["stage", "reason"],
    )
)
UPLOADS = REGISTRY.add(
    Counter(
        "leap_uploads_total",
        "Publishing jobs that ended, by platform and outcome (done, failed, retry).",
        ["platform", "outcome"],
    )
)
UPLOAD_SECONDS = REGISTRY.add(
    Histogram(
        "leap_upload_duration_seconds",
        "Time one publishing job took, by platform.",
        ["platform"],
    )
)
JOBS_RUNNING = REGISTRY.add(
    Gauge(
        "leap_jobs_running",
        "Pipeline and publishing jobs this process is running, by queue.",
        ["queue"],
        show_peak=True,
    )
)
RECOVERIES = REGISTRY.add(
    Counter(
        "leap_recoveries_total",
        "What the recovery sweep did: requeued (no job in Redis), taken_over (its worker died), "
        "gave_up (recovered too often).",
        ["action"],
    )
)
SWEEPS = REGISTRY.add(Counter("leap_recovery_sweeps_total", "Recovery sweeps this process ran."))


# --- read when scraped ----------------------------------------------------------------------


async def queue_lines(redis: Redis) -> list[str]:
    """Queue depth per queue (jobs due now and jobs waiting for a later time) and live workers."""
    now_ms = time.time() * 1000
    depth = ["# HELP leap_queue_depth Jobs waiting in a queue, by queue and state (ready, later).",
             "# TYPE leap_queue_depth gauge"]  # fmt: skip
    for short, name in QUEUES.items():
        ready = await redis.zcount(name, "-inf", now_ms)
        later = await redis.zcount(name, f"({now_ms}", "+inf")
        depth.append(f'leap_queue_depth{{queue="{short}",state="ready"}} {ready}')
        depth.append(f'leap_queue_depth{{queue="{short}",state="later"}} {later}')
    workers: dict[str, int] = dict.fromkeys(QUEUES, 0)
    for info in await live_workers(redis):
        for queue in info.get("queues", []):
            workers[queue] = workers.get(queue, 0) + 1
    depth += ["# HELP leap_workers Worker processes alive, by the queue they serve.",
              "# TYPE leap_workers gauge"]  # fmt: skip
    depth += [f'leap_workers{{queue="{q}"}} {n}' for q, n in sorted(workers.items())]
    return depth


async def render(redis: Redis | None) -> str:
    lines = REGISTRY.lines()
    if redis is not None:
        try:
            lines += await asyncio.wait_for(queue_lines(redis), 5)
        except Exception as exc:  # the process's own numbers are still worth showing
            lines.append(f"# queue depth unavailable: {type(exc).__name__}")
    return "\n".join(lines) + "\n"


# --- health ---------------------------------------------------------------------------------


async def check_database(sessions: async_sessionmaker[AsyncSession]) -> str:
    async with sessions() as session:
        await session.execute(sa.text("SELECT 1"))
    return "ok"


async def check_redis(redis: Redis) -> str:
    await redis.ping()
    return "ok"


def _failure_code(exc: Exception) -> str:
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, (ConnectionError, OSError)) or "connect" in type(exc).__name__.lower():
        return "unreachable"
    return "error"


async def health(
    sessions: async_sessionmaker[AsyncSession] | None,
    redis: Redis | None,
    workers: Iterable[Any] = (),
    *,
    timeout: float = 3.0,
) -> tuple[bool, dict[str, str]]:
    """(healthy, what each part said): the database, Redis, and each worker's loop.

    A part that fails says only a code ("timeout", "unreachable", "error"): the page is
    open to anyone who can reach the port, and an exception's text can name hosts, users
    or a password. The detail goes to the log, masked there.
    """
    report: dict[str, str] = {}
    checks: dict[str, Any] = {}
    if sessions is not None:
        checks["database"] = check_database(sessions)
    if redis is not None:
        checks["redis"] = check_redis(redis)
    for name, coro in checks.items():
        try:
            report[name] = await asyncio.wait_for(coro, timeout)
        except Exception as exc:
            report[name] = _failure_code(exc)
            log.warning("health check of %s failed: %s: %s", name, type(exc).__name__, exc)
    for worker in workers:
        task = getattr(worker, "main_task", None)
        alive = task is not None and not task.done()
        report[f"worker:{worker.queue_name}"] = "ok" if alive else "stopped"
    return all(v == "ok" for v in report.values()), report
