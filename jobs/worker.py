"""arq workers: the media queue (CPU work, one job per core) and the io queue (network work)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from arq import cron
from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.worker import Function, Worker, func

from integrations.telegram import make_bot

# Each stage module registers its stage when imported.
from jobs import compose, fetch, publish, subtitles, topics, transcribe, trim  # noqa: F401
from jobs.context import WorkerDeps
from jobs.progress import ProgressHub
from jobs.queues import IO, MEDIA, STAGE_QUEUE
from jobs.recovery import recover
from jobs.retention import SCHEDULE_HOUR as retention_hour
from jobs.retention import SCHEDULE_MINUTE as retention_minute
from jobs.retention import retention
from jobs.runner import MAX_TRIES, STAGES, run_stage
from jobs.zoom_sync import SCHEDULE_MINUTES as zoom_sync_schedule
from jobs.zoom_sync import zoom_sync
from leap.settings import Settings
from storage.crypto import SecretBox
from storage.db import create_engine, session_maker
from storage.files import MediaStore

log = logging.getLogger(__name__)

# Honest upper bounds: a killed worker's job is picked up again only after its timeout passes.
STAGE_TIMEOUTS = {"fetch": 3 * 3600, "trim": 3600, "transcribe": 3 * 3600}


def stage_function(name: str) -> Function:
    async def job(ctx: dict[str, Any], workspace_id: int, recording_id: int) -> None:
        await run_stage(ctx, name, workspace_id, recording_id)

    job.__name__ = job.__qualname__ = name
    # keep_result=0 frees the deterministic job id as soon as the stage ends, so a retried
    # recording can run the same stage again.
    return func(
        job, name=name, keep_result=0, max_tries=MAX_TRIES, timeout=STAGE_TIMEOUTS.get(name, 1800)
    )


def functions_for(queue: str) -> list[Function]:
    functions = [stage_function(name) for name in STAGES if STAGE_QUEUE[name] == queue]
    if queue == IO:
        functions += publish.FUNCTIONS
    return functions


def redis_settings(settings: Settings) -> RedisSettings:
    return RedisSettings.from_dsn(settings.redis_url)


async def build_deps(settings: Settings, redis: ArqRedis) -> WorkerDeps:
    engine = create_engine(settings.database_url)
    bot = make_bot(settings.bot_token, settings.telegram_api_url, local=settings.telegram_api_local)
    return WorkerDeps(
        settings=settings,
        sessions=session_maker(engine),
        store=MediaStore(settings.storage_dir),
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
    handle_signals: bool = False,
    burst: bool = False,
) -> list[Worker]:
    """One arq Worker per queue, sharing one set of dependencies.

    Each worker gets a Redis pool of its own because closing a worker closes its pool.
    """
    workers = []
    for queue in queues:
        name = {"media": MEDIA, "io": IO}[queue]
        functions = functions_for(name)
        crons = []
        if name == IO:
            crons.append(
                cron(recover, name="recover", second={0}, run_at_startup=True, keep_result=0)
            )
            crons.append(
                cron(
                    zoom_sync,
                    name="zoom_sync",
                    minute=zoom_sync_schedule,
                    keep_result=0,
                    timeout=1800,
                )
            )
            crons.append(
                cron(
                    retention,
                    name="retention",
                    hour={retention_hour},
                    minute={retention_minute},
                    keep_result=0,
                    timeout=3600,
                )
            )
        if not functions and not crons:
            log.info("queue %s has no stages yet; no worker started for it", queue)
            continue
        workers.append(
            Worker(
                functions=functions,
                cron_jobs=crons,
                queue_name=name,
                redis_pool=await redis_pool(settings),
                ctx={"deps": deps},
                max_jobs=settings.media_jobs if name == MEDIA else settings.io_jobs,
                handle_signals=handle_signals,
                burst=burst,
                poll_delay=0.2,
                keep_result=0,
                job_completion_wait=30,
                allow_abort_jobs=True,
                health_check_key=f"{name}:health-check",
            )
        )
    return workers


async def stop_worker(worker: Worker, grace: float) -> None:
    """Take no new jobs, give running ones `grace` seconds, then cancel the rest.

    A cancelled job is put back in the queue by arq, so nothing is lost; it runs again when a
    worker next starts.
    """
    if worker.main_task is not None:
        worker.main_task.cancel()
        await asyncio.gather(worker.main_task, return_exceptions=True)
    running = [t for t in worker.tasks.values() if not t.done()]
    if running:
        _done, late = await asyncio.wait(running, timeout=grace)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
    with contextlib.suppress(Exception):
        await worker.pool.delete(worker.health_check_key)
    await worker.pool.aclose()


async def redis_pool(settings: Settings) -> ArqRedis:
    return await create_pool(redis_settings(settings))
