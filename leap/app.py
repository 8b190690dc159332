"""Composition: the bot, its web server and the workers, in one process or separately."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from aiohttp import web
from arq.connections import create_pool

from bot.app import create_dispatcher, set_commands
from bot.middlewares import CommitBeforeAnswer
from bot.web import WebDeps, create_web_app
from jobs.worker import build_deps, build_workers, close_deps, redis_settings, stop_worker
from leap.logs import install_redaction, remember_secrets, settings_secrets
from leap.settings import Settings
from storage import db

log = logging.getLogger(__name__)


async def migrate(settings: Settings) -> None:
    await asyncio.to_thread(db.upgrade, settings.database_url)


async def serve(
    settings: Settings,
    *,
    bot: bool = True,
    queues: Sequence[str] = ("media", "io"),
    stop: asyncio.Event | None = None,
    ready: asyncio.Event | None = None,
) -> None:
    """Run until `stop` is set (or the task is cancelled), then shut everything down cleanly."""
    stop = stop or asyncio.Event()
    install_redaction()
    remember_secrets(settings_secrets(settings))
    await migrate(settings)
    redis = await create_pool(redis_settings(settings))
    deps = await build_deps(settings, redis)
    workers = await build_workers(settings, queues, deps=deps)
    tasks = [asyncio.create_task(w.async_run(), name=f"worker:{w.queue_name}") for w in workers]

    dp = None
    runner: web.AppRunner | None = None
    if bot:
        dp = create_dispatcher(settings, deps.sessions, redis, deps.secrets)
        deps.bot.session.middleware(CommitBeforeAnswer())
        await set_commands(deps.bot)
        web_deps = WebDeps(
            settings=settings,
            sessions=deps.sessions,
            redis=redis,
            bot=deps.bot,
            store=deps.store,
            secrets=deps.secrets,
        )
        runner = web.AppRunner(create_web_app(web_deps))
        await runner.setup()
        await web.TCPSite(runner, settings.web_host, settings.web_port).start()
        tasks.append(
            asyncio.create_task(
                dp.start_polling(deps.bot, handle_signals=False, close_bot_session=False),
                name="polling",
            )
        )
    if ready is not None:
        ready.set()
    log.info("running: bot=%s queues=%s", bot, ",".join(queues))
    try:
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not stopper and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        if dp is not None:
            with contextlib.suppress(RuntimeError):
                await dp.stop_polling()
        await asyncio.gather(*(stop_worker(w, settings.shutdown_grace) for w in workers))
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if runner is not None:
            await runner.cleanup()
        await close_deps(deps)
        await redis.aclose()
