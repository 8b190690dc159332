"""What each queue's worker runs: the arq functions of the stages and publishing, and the crons.

- Every job runs under its lease (jobs.presence): a job a live worker already runs is not
  started a second time, whatever Redis says.
- arq's own timeout of a stage is the runner's deadline plus `TIMEOUT_MARGIN`, so the runner
  ends a hung stage and tells the chat before arq would drop the job without a word.
- `keep_result=0` everywhere: a deterministic job id (``rec:{id}:{stage}``) is free again the
  moment its job ends, so a retried recording can run the same stage again.
- A publishing job works on this machine's copy of the media (pulled from a bucket first),
  is timed and counted per platform, and waits as RETRY_DELAY_SCALE says.
- The io queue alone runs the crons: recovery every RECOVERY_INTERVAL seconds and at start,
  Zoom sync, retention.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from typing import Any

import sqlalchemy as sa
from arq import Retry, cron
from arq.cron import CronJob
from arq.worker import Function, func
from redis.exceptions import RedisError

# Each stage module registers its stage when imported.
from jobs import compose, fetch, keys, metrics, publish, subtitles, topics, transcribe, trim  # noqa: F401
from jobs import translate as translation
from jobs.context import WorkerDeps
from jobs.presence import Presence
from jobs.publish import run as publish_run
from jobs.queues import IO, QUEUES, STAGE_QUEUE
from jobs.recovery import recover
from jobs.retention import SCHEDULE_HOUR as retention_hour
from jobs.retention import SCHEDULE_MINUTE as retention_minute
from jobs.retention import retention
from jobs.runner import (
    MAX_TRIES,
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
from storage.models import Publication
from storage.objects import ObjectStoreError

log = logging.getLogger(__name__)

# arq's own timeout is the runner's deadline plus this, so the runner ends a hung stage (and
# tells the chat) before arq would drop the job without a word.
TIMEOUT_MARGIN = 60.0


# --- every job ------------------------------------------------------------------------------


def job_fields(job_id: str) -> dict[str, Any]:
    """What a job id says for the logs: ``rec:12:trim`` is recording 12's trim."""
    parts = job_id.split(":", 2)
    if len(parts) == 3 and parts[0] == "rec" and parts[1].isdigit():
        return {"recording_id": int(parts[1]), "stage": parts[2], "job": job_id}
    return {"job": job_id}


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
                    keys.RECOVERIES + publish.publish_job_id(recording_id, platform)
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
            functions += publish_run.FUNCTIONS
        else:
            functions += [publish_function(f, settings) for f in publish_run.FUNCTIONS]
        functions.append(translation.function())
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
