"""How long a stage hop takes: from enqueueing the next stage to a worker starting it.

Run from the repository root::

    .venv/bin/python -m bench.queue [--hops 200] [--baseline-hops 40]

A chain of jobs on a real Redis (REDIS_URL when it answers, otherwise a private
redis-server): each job notes how long ago it was enqueued, then enqueues the next one from
inside the worker, as a finishing stage hands its recording to the next stage. Three
workers are timed on the same chain:

- arq as configured out of the box (it looks at its queue every 0.5 s);
- arq looking at its queue every 0.01 s (a hundred Redis round trips a second when idle);
- ours (jobs.worker.LeapWorker): enqueueing publishes a wake-up that the idle worker waits
  for, and the queue is looked at on its own only every WORKER_POLL_DELAY (1 s).

Prints p50, p99 and the mean of enqueue → start, in milliseconds, and the Redis commands
each worker sent while idle for a second.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import os
import platform
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.worker import Worker, func
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from jobs.worker import LeapWorker, Presence, redis_pool, stop_worker
from leap.settings import Settings

QUEUE = "bench:queue"


@contextlib.contextmanager
def redis_server() -> Any:
    configured = os.environ.get("REDIS_URL")
    if configured:
        with contextlib.suppress(Exception):
            SyncRedis.from_url(configured, socket_connect_timeout=1).ping()
            yield configured
            return
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("no Redis: set REDIS_URL or install redis-server")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    folder = tempfile.mkdtemp(prefix="bench-redis-")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", folder],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while True:
        try:
            SyncRedis.from_url(url).ping()
            break
        except Exception:
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.05)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(5)
        shutil.rmtree(folder, ignore_errors=True)


class Chain:
    """The hops of one run: each job records its wait and enqueues the next."""

    def __init__(self, hops: int) -> None:
        self.hops = hops
        self.waits: list[float] = []
        self.done = asyncio.Event()

    async def hop(self, ctx: dict[str, Any], number: int, enqueued_at: float) -> None:
        self.waits.append(time.time() - enqueued_at)
        if number + 1 >= self.hops:
            self.done.set()
            return
        pool: ArqRedis = ctx["redis"]
        await pool.enqueue_job("hop", number + 1, time.time(), _queue_name=QUEUE)


@contextlib.asynccontextmanager
async def running(worker: Worker) -> AsyncIterator[None]:
    task = asyncio.create_task(worker.async_run())
    try:
        yield
    finally:
        await stop_worker(worker, grace=5)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def measure(
    url: str, hops: int, make_worker: Callable[[Chain, ArqRedis], Worker], pool: ArqRedis
) -> tuple[list[float], int]:
    """(waits in seconds, Redis commands sent in one idle second)."""
    await pool.delete(QUEUE)
    chain = Chain(hops)
    worker = make_worker(chain, pool)
    monitor = Redis.from_url(url)
    async with running(worker):
        await asyncio.sleep(1.0)  # started and idle
        before = await _commands(monitor)
        await asyncio.sleep(1.0)
        idle = await _commands(monitor) - before
        await pool.enqueue_job("hop", 0, time.time(), _queue_name=QUEUE)
        await asyncio.wait_for(chain.done.wait(), timeout=hops * 2 + 30)
    await monitor.aclose()
    return chain.waits, idle


async def _commands(redis: Redis) -> int:
    info = await redis.info("stats")
    return int(info["total_commands_processed"])


def arq_worker(poll_delay: float, url: str) -> Callable[[Chain, ArqRedis], Worker]:
    def make(chain: Chain, pool: ArqRedis) -> Worker:
        return Worker(
            functions=[func(chain.hop, name="hop", keep_result=0)],
            queue_name=QUEUE,
            redis_settings=RedisSettings.from_dsn(url),
            poll_delay=poll_delay,
            handle_signals=False,
            keep_result=0,
        )

    return make


def leap_worker(settings: Settings, presence: Presence) -> Callable[[Chain, ArqRedis], Worker]:
    def make(chain: Chain, pool: ArqRedis) -> Worker:
        return LeapWorker(
            functions=[func(chain.hop, name="hop", keep_result=0)],
            queue_name=QUEUE,
            redis_pool=pool,
            handle_signals=False,
            keep_result=0,
            presence=presence,
            idle_poll=settings.worker_poll_delay,
        )

    return make


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


async def main_async(args: argparse.Namespace, url: str) -> list[tuple[str, list[float], int]]:
    settings = Settings(_env_file=None, redis_url=url)  # type: ignore[call-arg]
    results = []
    baselines = (("arq, poll_delay 0.5 s (its default)", 0.5), ("arq, poll_delay 0.01 s", 0.01))
    for label, poll in baselines:
        hops = args.baseline_hops if poll >= 0.1 else args.hops
        plain = await create_pool(RedisSettings.from_dsn(url))
        waits, idle = await measure(url, hops, arq_worker(poll, url), plain)
        await plain.aclose()
        results.append((label, waits, idle))

    presence = Presence(settings, [QUEUE])
    await presence.start()
    pool = await redis_pool(settings)
    label = f"ours: wake-ups, poll {settings.worker_poll_delay:g} s when idle"
    waits, idle = await measure(url, args.hops, leap_worker(settings, presence), pool)
    results.append((label, waits, idle))
    await presence.stop()
    return results


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, load average {load}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hops", type=int, default=200)
    parser.add_argument("--baseline-hops", type=int, default=40)
    args = parser.parse_args()
    with redis_server() as url:
        results = asyncio.run(main_async(args, url))
    print(f"queue hop benchmark, {datetime.date.today()}, {_machine()}")
    print()
    print("| worker | hops | p50 ms | p99 ms | mean ms | Redis commands per idle second |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, waits, idle in results:
        ms = [w * 1000 for w in waits]
        print(
            f"| {label} | {len(ms)} | {percentile(ms, 0.5):.1f} | {percentile(ms, 0.99):.1f} "
            f"| {statistics.fmean(ms):.1f} | {idle} |"
        )


if __name__ == "__main__":
    main()
