"""arq workers: the media queue (CPU work, one job per core) and the io queue (network work).

Beyond arq itself, each worker process keeps three things in Redis (`Presence`):

- a heartbeat, ``leap:worker:<id>``, renewed every WORKER_HEARTBEAT seconds and gone three
  periods after the process is;
- a lease per job it runs, ``leap:lease:<job id>``, taken before the job starts and renewed
  with the heartbeat. A job whose lease is held by a live worker is never started a second
  time, and a job whose lease has run out belongs to a dead worker: the recovery sweep
  (jobs.recovery) hands it to another worker within seconds, instead of after arq's
  in-progress mark expires (the longest job timeout of the worker plus 10 s, hours here);
- a wake-up channel per queue, ``leap:wake:<queue>``. Enqueueing through `WakingRedis`
  publishes on it, so an idle worker starts a new job at once and looks at its queue on its
  own only every WORKER_POLL_DELAY seconds (for jobs put off until later).

A worker that loses Redis (a restart, a network fault) keeps running: it logs, backs off and
tries again, and its running jobs go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from arq import Retry, cron
from arq.connections import ArqRedis, RedisSettings
from arq.cron import CronJob
from arq.worker import Function, Worker, func
from redis.asyncio import Redis
from redis.exceptions import RedisError

from integrations.telegram import make_bot

# Each stage module registers its stage when imported.
from jobs import compose, fetch, metrics, publish, subtitles, topics, transcribe, trim  # noqa: F401
from jobs.arq_adapter import WakeableWorker, check_arq
from jobs.context import WorkerDeps, media_store
from jobs.progress import ProgressHub
from jobs.queues import IO, MEDIA, QUEUES, STAGE_QUEUE
from jobs.recovery import LEASE_KEY, WAKE_CHANNEL, WORKER_KEY, lease_seconds, recover
from jobs.retention import SCHEDULE_HOUR as retention_hour
from jobs.retention import SCHEDULE_MINUTE as retention_minute
from jobs.retention import retention
from jobs.runner import (
    MAX_TRIES,
    RECOVERIES_KEY,
    STAGE_TIMEOUTS,
    STAGES,
    run_stage,
    scale_retry,
    stage_timeout,
)
from jobs.zoom_sync import SCHEDULE_MINUTES as zoom_sync_schedule
from jobs.zoom_sync import zoom_sync
from leap.logs import bind_log_context
from leap.settings import Settings
from storage.crypto import SecretBox
from storage.db import create_engine, session_maker
from storage.models import Publication
from storage.objects import ObjectStoreError

log = logging.getLogger(__name__)

__all__ = ["STAGE_TIMEOUTS", "build_workers", "stop_worker"]

# arq's own timeout is the runner's deadline plus this, so the runner ends a hung stage (and
# tells the chat) before arq would drop the job without a word.
TIMEOUT_MARGIN = 60.0

# Take the lease of a job unless a live worker (one whose heartbeat key exists) holds it.
# Returns the holder when refused, nothing when the lease is now ours.
_CLAIM = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] and redis.call('EXISTS', ARGV[3] .. holder) == 1 then
  return holder
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
"""
# Give the lease up only if it is still ours.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def lease_key(job_id: str) -> str:
    return LEASE_KEY + job_id


def worker_key(worker_id: str) -> str:
    return WORKER_KEY + worker_id


def wake_channel(queue_name: str) -> str:
    return WAKE_CHANNEL + queue_name


async def live_workers(redis: Redis) -> list[dict[str, Any]]:
    """What the live worker processes said of themselves in their last heartbeat."""
    found = []
    async for key in redis.scan_iter(match=WORKER_KEY + "*", count=200):
        raw = await redis.get(key)
        if raw:
            with contextlib.suppress(ValueError):
                found.append(json.loads(raw))
    return found


# --- enqueueing that wakes the workers ------------------------------------------------------


class WakingRedis(ArqRedis):
    """An arq pool whose jobs, when due now, wake the workers of their queue at once."""

    async def enqueue_job(  # type: ignore[override]
        self,
        function: str,
        *args: Any,
        _job_id: str | None = None,
        _queue_name: str | None = None,
        _defer_until: Any = None,
        _defer_by: Any = None,
        **kwargs: Any,
    ) -> Any:
        job = await super().enqueue_job(
            function,
            *args,
            _job_id=_job_id,
            _queue_name=_queue_name,
            _defer_until=_defer_until,
            _defer_by=_defer_by,
            **kwargs,
        )
        if job is not None and _defer_until is None and not _defer_by:
            await self.wake(_queue_name or self.default_queue_name)
        return job

    async def wake(self, queue_name: str) -> None:
        try:
            await self.publish(wake_channel(queue_name), b"1")
        except RedisError:
            # The workers still look at their queues on their own; only speed is lost.
            log.debug("wake-up for %s not sent", queue_name, exc_info=True)


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


# --- the process as the fleet sees it -------------------------------------------------------


class Presence:
    """This process's heartbeat, the leases of the jobs it runs, and its wake-ups."""

    def __init__(self, settings: Settings, queues: Sequence[str]) -> None:
        self.id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.period = max(settings.worker_heartbeat, 0.05)
        self.lease_ms = int(lease_seconds(settings) * 1000)
        self.queues = [QUEUES.get(q, q) for q in queues]
        self.redis: Redis = Redis.from_url(
            settings.redis_url, socket_connect_timeout=5, health_check_interval=30
        )
        self.held: dict[str, asyncio.Task[Any] | None] = {}
        self.started = time.time()
        self._events = {name: asyncio.Event() for name in self.queues}
        self._tasks: list[asyncio.Task[None]] = []
        self._claim = self.redis.register_script(_CLAIM)
        self._release = self.redis.register_script(_RELEASE)

    async def start(self) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self._beat()
        self._tasks = [
            asyncio.create_task(self._beat_loop(), name="presence:heartbeat"),
            asyncio.create_task(self._listen(), name="presence:wake-ups"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(RedisError, OSError):
            await self.redis.delete(worker_key(self.id))
        await self.redis.aclose()

    # -- leases --

    async def claim(self, job_id: str) -> str | None:
        """Take the job's lease; returns the live worker holding it instead, if one does."""
        if job_id in self.held:
            # Queued again (Redis lost its data) while this very process still runs it.
            return self.id
        holder = await self._claim(
            keys=[lease_key(job_id)], args=[self.id, self.lease_ms, WORKER_KEY]
        )
        if holder:
            return holder.decode() if isinstance(holder, bytes) else str(holder)
        self.held[job_id] = asyncio.current_task()
        return None

    async def release(self, job_id: str) -> None:
        self.held.pop(job_id, None)
        try:
            await self._release(keys=[lease_key(job_id)], args=[self.id])
        except (RedisError, OSError):
            log.debug("lease of %s left to expire", job_id, exc_info=True)

    # -- wake-ups --

    async def wait(self, queue_name: str, timeout: float) -> None:
        """Until a job is enqueued on `queue_name` or a slot frees up, at most `timeout` s."""
        event = self._events.get(queue_name)
        if event is None:
            await asyncio.sleep(timeout)
            return
        # asyncio.timeout rather than wait_for: on Python 3.11 wait_for loses a cancellation
        # that arrives as the event is set, and the worker's loop would never stop.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await event.wait()
        event.clear()

    def nudge(self, queue_name: str) -> None:
        event = self._events.get(queue_name)
        if event is not None:
            event.set()

    # -- the loops --

    async def _beat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.period)
            try:
                await self._beat()
            except (RedisError, OSError) as exc:
                log.warning("heartbeat not recorded: %s", type(exc).__name__)

    async def _beat(self) -> None:
        info = {
            "id": self.id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "queues": [q.split(":", 1)[-1] for q in self.queues],
            "jobs": sorted(self.held),
            "started": self.started,
        }
        await self.redis.set(worker_key(self.id), json.dumps(info), px=self.lease_ms)
        for job_id, task in list(self.held.items()):
            holder = await self._claim(
                keys=[lease_key(job_id)], args=[self.id, self.lease_ms, WORKER_KEY]
            )
            if holder and job_id in self.held:
                # Another worker took it while this one looked dead: only one may go on.
                log.error("job %s was taken over by %s; stopping it here", job_id, holder)
                if task is not None:
                    task.cancel()

    async def _listen(self) -> None:
        channels = {wake_channel(q): q for q in self.queues}
        failures = 0
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(*channels)
                failures = 0
                while True:
                    message = await pubsub.get_message(timeout=self.period)
                    if message is not None:
                        channel = message["channel"]
                        name = channel.decode() if isinstance(channel, bytes) else channel
                        self.nudge(channels.get(name, ""))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                log.debug("wake-up channel lost (%s); listening again", type(exc).__name__)
                await asyncio.sleep(min(0.5 * 2**failures, 10.0))
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()


# --- the worker -----------------------------------------------------------------------------


def job_fields(job_id: str) -> dict[str, Any]:
    """What a job id says for the logs: ``rec:12:trim`` is recording 12's trim."""
    parts = job_id.split(":", 2)
    if len(parts) == 3 and parts[0] == "rec" and parts[1].isdigit():
        return {"recording_id": int(parts[1]), "stage": parts[2], "job": job_id}
    return {"job": job_id}


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


async def bind_job(ctx: dict[str, Any]) -> None:
    """arq's on_job_start: what follows in the job's task logs under its recording."""
    bind_log_context(**job_fields(str(ctx.get("job_id", ""))))


async def run_leased(
    ctx: dict[str, Any], queue: str, inner: Any, workspace_id: int, recording_id: int
) -> None:
    """Run a job under its lease; a job a live worker already runs is not run again."""
    presence: Presence | None = ctx.get("presence")
    jid = str(ctx.get("job_id", ""))
    if presence is None or not jid:
        await inner(ctx, workspace_id, recording_id)
        return
    holder = await presence.claim(jid)
    if holder is not None:
        log.warning("job %s is running in worker %s; not starting it twice", jid, holder)
        return
    metrics.JOBS_RUNNING.add(1, queue=queue)
    try:
        await inner(ctx, workspace_id, recording_id)
    finally:
        metrics.JOBS_RUNNING.add(-1, queue=queue)
        await presence.release(jid)


# --- functions and crons --------------------------------------------------------------------


def stage_function(name: str, settings: Settings | None = None) -> Function:
    queue = next(k for k, v in QUEUES.items() if v == STAGE_QUEUE[name])

    async def stage_job(ctx: dict[str, Any], workspace_id: int, recording_id: int) -> None:
        await run_stage(ctx, name, workspace_id, recording_id)

    async def job(ctx: dict[str, Any], workspace_id: int, recording_id: int) -> None:
        await run_leased(ctx, queue, stage_job, workspace_id, recording_id)

    job.__name__ = job.__qualname__ = name
    deadline = (
        stage_timeout(settings, name) if settings else STAGE_TIMEOUTS.get(name, 1800)
    ) + TIMEOUT_MARGIN
    # keep_result=0 frees the deterministic job id as soon as the stage ends, so a retried
    # recording can run the same stage again.
    return func(job, name=name, keep_result=0, max_tries=MAX_TRIES, timeout=deadline)


def publish_function(function: Function, settings: Settings) -> Function:
    """A publishing job that is timed, counted, and waits as RETRY_DELAY_SCALE says."""
    platform = function.name.removeprefix("publish_")
    publish_job = function.coroutine

    async def inner(ctx: dict[str, Any], workspace_id: int, recording_id: int) -> None:
        # With media in a bucket, the platform's job works on this machine's copy of it.
        store = ctx["deps"].store
        try:
            await store.pull(workspace_id, recording_id)
        except ObjectStoreError as exc:
            if not exc.transient:
                log.error("recording %s: %s: media store: %s", recording_id, function.name, exc)
                raise
            log.warning("recording %s: media store: %s", recording_id, exc)
            raise Retry(defer=30) from exc
        await publish_job(ctx, workspace_id, recording_id)
        try:
            # An export archive, for the download link whichever machine serves it.
            await store.push(workspace_id, recording_id)
        except ObjectStoreError as exc:
            log.warning("recording %s: %s output not stored: %s", recording_id, platform, exc)

    async def job(ctx: dict[str, Any], workspace_id: int, recording_id: int) -> None:
        deps: WorkerDeps = ctx["deps"]
        started = time.monotonic()
        try:
            await run_leased(ctx, "io", inner, workspace_id, recording_id)
        except Retry as exc:
            scale_retry(exc, deps.settings)
            metrics.UPLOADS.inc(platform=platform, outcome="retry")
            raise
        finally:
            metrics.UPLOAD_SECONDS.observe(time.monotonic() - started, platform=platform)
        outcome = await _publication_outcome(deps, workspace_id, recording_id, platform)
        if outcome is not None:
            metrics.UPLOADS.inc(platform=platform, outcome=outcome)
            with contextlib.suppress(RedisError, OSError):
                await deps.redis.delete(
                    RECOVERIES_KEY + publish.publish_job_id(recording_id, platform)
                )

    job.__name__ = job.__qualname__ = function.name
    timeout = settings.stage_timeouts.get(function.name) or function.timeout_s
    return dataclasses.replace(function, coroutine=job, timeout_s=timeout)


async def _publication_outcome(
    deps: WorkerDeps, workspace_id: int, recording_id: int, platform: str
) -> str | None:
    async with deps.sessions() as session:
        status = await session.scalar(
            sa.select(Publication.status).where(
                Publication.workspace_id == workspace_id,
                Publication.recording_id == recording_id,
                Publication.platform == platform,
            )
        )
    value = getattr(status, "value", status)
    return str(value) if value in ("done", "failed") else None


def functions_for(queue: str, settings: Settings | None = None) -> list[Function]:
    functions = [stage_function(name, settings) for name in STAGES if STAGE_QUEUE[name] == queue]
    if queue == IO:
        if settings is None:
            functions += publish.FUNCTIONS
        else:
            functions += [publish_function(f, settings) for f in publish.FUNCTIONS]
    return functions


def recovery_cron(settings: Settings) -> CronJob:
    """The recovery sweep, every RECOVERY_INTERVAL seconds and when the worker starts."""
    every = max(int(settings.recovery_interval), 1)
    if every < 60:
        second: set[int] = set(range(0, 60, every))
        minute: set[int] | None = None
    else:
        second, minute = {0}, set(range(0, 60, max(every // 60, 1)))
    return cron(
        recover,
        name="recover",
        second=second,
        minute=minute,
        run_at_startup=True,
        keep_result=0,
        timeout=max(every * 5, 300),
    )


def crons_for(queue: str, settings: Settings) -> list[CronJob]:
    if queue != IO:
        return []
    return [
        recovery_cron(settings),
        cron(zoom_sync, name="zoom_sync", minute=zoom_sync_schedule, keep_result=0, timeout=1800),
        cron(
            retention,
            name="retention",
            hour={retention_hour},
            minute={retention_minute},
            keep_result=0,
            timeout=3600,
        ),
    ]


# --- building and stopping ------------------------------------------------------------------


def preload(settings: Settings) -> None:
    """Import now the libraries that stages otherwise import on their first run.

    Importing openai or faster-whisper holds the event loop for half a second or more. A
    worker process pays that while it has other jobs' heartbeats to wait; in `leap run` the
    same loop answers people, so there it is paid at start instead.
    """
    import integrations.llm
    import integrations.stt.api  # noqa: F401

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
