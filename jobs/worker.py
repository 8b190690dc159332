"""arq workers: the media queue (CPU work, one job per core) and the io queue (network work).

This module starts and stops them; what each queue runs is jobs.functions, and what a worker
process keeps in Redis beside arq (heartbeat, leases, wake-ups) is jobs.presence.

- One arq Worker per queue, all sharing one set of dependencies (`WorkerDeps`); each has a
  Redis pool of its own, because closing a worker closes its pool.
- An idle worker waits for its queue's wake-up (or a freed slot) instead of polling, and
  looks at its queue on its own only every WORKER_POLL_DELAY seconds.
- A worker that loses Redis (a restart, a network fault) keeps running: it logs, backs off
  and tries again, and its running jobs go on.
- Stopping takes no new jobs, gives running ones SHUTDOWN_GRACE seconds, then cancels the
  rest, which arq puts back in their queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from arq.connections import ArqRedis, RedisSettings
from arq.worker import Worker
from redis.exceptions import RedisError

# The speech API's client loads with the workers (as the LLM's does with the topics stage),
# not on the first transcription, while the event loop may be answering people (`preload`).
import integrations.stt.api  # noqa: F401
from integrations.telegram import make_bot
from jobs.arq_adapter import WakeableWorker, check_arq
from jobs.context import WorkerDeps, media_store
from jobs.functions import bind_job, crons_for, functions_for
from jobs.presence import Presence, WakingRedis
from jobs.progress import ProgressHub
from jobs.queues import IO, MEDIA, QUEUES
from leap.settings import Settings
from storage.crypto import SecretBox
from storage.db import create_engine, session_maker

log = logging.getLogger(__name__)

__all__ = ["Presence", "build_workers", "stop_worker"]


# --- the Redis pool -------------------------------------------------------------------------


def redis_settings(settings: Settings) -> RedisSettings:
    return RedisSettings.from_dsn(settings.redis_url)


async def redis_pool(settings: Settings, *, attempts: int = 5) -> ArqRedis:
    """A `WakingRedis` pool, waiting a little for Redis when it is not up yet."""
    parsed = redis_settings(settings)
    for attempt in range(1, attempts + 1):
        pool = WakingRedis.from_url(
            settings.redis_url,
            socket_connect_timeout=parsed.conn_timeout,
            health_check_interval=30,
        )
        try:
            await pool.ping()
            return pool
        except (RedisError, OSError):
            await pool.aclose()
            if attempt == attempts:
                raise
            log.warning("Redis at %s is not answering; trying again", parsed.host)
            await asyncio.sleep(min(2**attempt * 0.25, 5))
    raise AssertionError("unreachable")


# --- the worker -----------------------------------------------------------------------------


class LeapWorker(WakeableWorker):
    """Our arq Worker: waits for its queue's wake-ups and keeps leases (jobs.arq_adapter
    holds the arq internals this takes)."""

    def __init__(
        self, *args: Any, presence: Presence | None, idle_poll: float, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.presence = presence
        self.idle_poll = max(idle_poll, 0.01)
        self.short_name = next((k for k, v in QUEUES.items() if v == self.queue_name), "")

    async def idle(self) -> None:
        if self.presence is None:
            await asyncio.sleep(self.idle_poll)
        else:
            await self.presence.wait(self.queue_name, self.idle_poll)

    def slot_free(self) -> None:
        # A slot is free: look at the queue now rather than at the next poll.
        if self.presence is not None:
            self.presence.nudge(self.queue_name)

    async def redis_fault(self, exc: Exception, faults: int) -> None:
        delay = min(0.25 * 2**faults, 10.0)
        log.warning(
            "queue %s: Redis is not answering (%s); looking again in %.1f s",
            self.short_name,
            type(exc).__name__,
            delay,
        )
        await asyncio.sleep(delay)

    def job_fault(self) -> None:
        # A job's bookkeeping failed; the job itself is the recovery sweep's to find.
        log.exception("queue %s: a job ended badly", self.short_name)


# --- building and stopping ------------------------------------------------------------------


def preload(settings: Settings) -> None:
    """Import now the speech engine a local transcription otherwise imports on its first run.

    Importing faster-whisper (like openai, which this module's imports load) holds the event
    loop for half a second or more. A worker process pays that while it has other jobs'
    heartbeats to wait; in `leap run` the same loop answers people, so there it is paid at
    start instead.
    """
    if settings.transcribe_engine == "local":
        with contextlib.suppress(ImportError):
            import faster_whisper  # noqa: F401


async def build_deps(settings: Settings, redis: ArqRedis) -> WorkerDeps:
    engine = create_engine(settings.database_url)
    bot = make_bot(settings.bot_token, settings.telegram_api_url, local=settings.telegram_api_local)
    return WorkerDeps(
        settings=settings,
        sessions=session_maker(engine),
        store=media_store(settings),
        bot=bot,
        redis=redis,
        progress=ProgressHub(bot, redis, settings.progress_interval),
        secrets=secret_box(settings),
    )


def secret_box(settings: Settings) -> SecretBox | None:
    key = settings.secret_key.get_secret_value() if settings.secret_key else ""
    return SecretBox(key) if key.strip() else None


async def close_deps(deps: WorkerDeps) -> None:
    await deps.progress.drain_all()
    await deps.bot.session.close()
    engine = deps.sessions.kw.get("bind")
    if engine is not None:
        await engine.dispose()


async def build_workers(
    settings: Settings,
    queues: Sequence[str],
    *,
    deps: WorkerDeps,
    presence: Presence | None = None,
    handle_signals: bool = False,
    burst: bool = False,
) -> list[Worker]:
    """One arq Worker per queue, sharing one set of dependencies.

    Each worker gets a Redis pool of its own because closing a worker closes its pool.
    """
    # An arq that changed what the worker overrides would fail in obscure ways later.
    check_arq()
    workers: list[Worker] = []
    for queue in queues:
        name = {"media": MEDIA, "io": IO}[queue]
        functions = functions_for(name, settings)
        crons = crons_for(name, settings)
        if not functions and not crons:
            log.info("queue %s has no stages yet; no worker started for it", queue)
            continue
        workers.append(
            LeapWorker(
                functions=functions,
                cron_jobs=crons,
                queue_name=name,
                redis_pool=await redis_pool(settings),
                ctx={"deps": deps, "presence": presence},
                on_job_start=bind_job,
                max_jobs=settings.media_jobs if name == MEDIA else settings.io_jobs,
                handle_signals=handle_signals,
                burst=burst,
                keep_result=0,
                job_completion_wait=int(settings.shutdown_grace),
                allow_abort_jobs=True,
                health_check_key=f"{name}:health-check",
                presence=presence,
                idle_poll=settings.worker_poll_delay,
            )
        )
    return workers


async def stop_worker(worker: Worker, grace: float) -> None:
    """Take no new jobs, give running ones `grace` seconds, then cancel the rest.

    A cancelled job is put back in the queue by arq, so nothing is lost; it runs again when a
    worker next starts.
    """
    worker.allow_pick_jobs = False
    if worker.main_task is not None:
        worker.main_task.cancel()
        # The poll loop ends at its next await; never let a stuck one hold the shutdown.
        await asyncio.wait({worker.main_task}, timeout=5.0)
    running = [t for t in worker.tasks.values() if not t.done()]
    if running:
        log.info("waiting up to %.0f s for %d running jobs", grace, len(running))
        _done, late = await asyncio.wait(running, timeout=grace)
        for task in late:
            task.cancel()
        if late:
            log.info("%d jobs cancelled; they are back in the queue", len(late))
        await asyncio.gather(*late, return_exceptions=True)
    with contextlib.suppress(Exception):
        await worker.pool.delete(worker.health_check_key)
    await worker.pool.aclose()
