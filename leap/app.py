"""Composition: the bot, its web server and the workers, in one process or separately."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

from aiogram import Bot
from aiogram.exceptions import TelegramNetworkError, TelegramUnauthorizedError
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from bot.web import StatusDeps, WebDeps, create_status_app, create_web_app
from jobs.worker import (
    Presence,
    build_deps,
    build_workers,
    close_deps,
    preload,
    redis_pool,
    stop_worker,
)
from leap.logs import install_context, install_redaction, remember_secrets, settings_secrets
from leap.settings import Settings
from storage import db

log = logging.getLogger(__name__)


class StartupError(Exception):
    """Something the operator must fix before the bot can start; the text says what, in one
    line, with no secret in it."""


async def check_bot_api(bot: Bot, settings: Settings) -> str:
    """The bot's @username, or a StartupError that says why the Bot API refused us."""
    where = settings.telegram_api_url
    try:
        me = await bot.get_me()
    except TelegramUnauthorizedError as exc:
        raise StartupError(
            f"the Bot API at {where} refused TELEGRAM_BOT_TOKEN (Unauthorized): check the token "
            "@BotFather gave you"
        ) from exc
    except TelegramNetworkError as exc:
        raise StartupError(
            f"cannot reach the Bot API at {where}: check TELEGRAM_API_URL and the network"
        ) from exc
    return me.username or str(me.id)


def webhook_path(url: str) -> str:
    """Where on the bot's web server the webhook `url` (as the proxy forwards it) arrives."""
    return urlsplit(url).path or "/"


def webhook_secret(settings: Settings) -> str:
    """The token Telegram sends with every update, so that nobody else can post updates.

    Derived from the bot token: stable across restarts and replicas, with nothing to set.
    """
    digest = hashlib.sha256(b"leap webhook\0" + settings.bot_token.encode()).hexdigest()
    return digest


async def migrate(settings: Settings) -> None:
    await asyncio.to_thread(db.upgrade, settings.database_url)


def step_back_stage_threads(nice: int) -> None:
    """Beside the bot in one process, let only the threads stages work in yield the CPU.

    Linux gives every thread a priority of its own, and a child process takes the one of the
    thread that started it, so the media work done in threads and the ffmpeg they start step
    back while the event loop that answers people keeps its priority. Call it once, in the
    running loop of a process that is the bot and its workers: it replaces that loop's
    default executor.
    """
    if not nice or not sys.platform.startswith("linux"):
        # Elsewhere nice() lowers the whole process, the bot with it.
        return

    def step_back() -> None:
        # On Linux nice() changes the calling thread only.
        with contextlib.suppress(OSError):
            os.nice(nice)

    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(thread_name_prefix="stage", initializer=step_back)
    )


async def serve(
    settings: Settings,
    *,
    bot: bool = True,
    queues: Sequence[str] = ("media", "io"),
    stop: asyncio.Event | None = None,
    ready: asyncio.Event | None = None,
) -> None:
    """Run until `stop` is set (or the task is cancelled), then shut everything down cleanly.

    On the way out running stages get SHUTDOWN_GRACE seconds to finish; the ones still
    running then are cancelled and put back in their queue for the next worker.
    """
    stop = stop or asyncio.Event()
    install_redaction()
    install_context()
    remember_secrets(settings_secrets(settings))
    if queues and not bot and settings.worker_nice:
        # A worker's media work (and the ffmpeg it starts, which inherits this) yields the
        # CPU to the bot and the databases on the same machine.
        with contextlib.suppress(OSError):
            os.nice(settings.worker_nice)
    if queues and bot:
        preload(settings)
    if settings.migrate_on_start:
        await migrate(settings)
    redis = await redis_pool(settings)
    deps = await build_deps(settings, redis)
    if bot:
        try:
            await check_bot_api(deps.bot, settings)
        except StartupError:
            await close_deps(deps)
            await redis.aclose()
            raise
    presence = Presence(settings, queues) if queues else None
    if presence is not None:
        await presence.start()
    workers = await build_workers(settings, queues, deps=deps, presence=presence)
    tasks = [asyncio.create_task(w.async_run(), name=f"worker:{w.queue_name}") for w in workers]

    dp = None
    runner: web.AppRunner | None = None
    if bot:
        # Imported here: a worker process has no use for the handlers and starts faster.
        from bot.app import create_dispatcher, set_commands
        from bot.middlewares import CommitBeforeAnswer

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
            workers=workers,
        )
        app = create_web_app(web_deps)
        if settings.webhook_url:
            SimpleRequestHandler(
                dispatcher=dp, bot=deps.bot, secret_token=webhook_secret(settings)
            ).register(app, path=webhook_path(settings.webhook_url))
        runner = await _start_site(app, settings.web_host, settings.web_port)
        if settings.webhook_url:
            # Telegram posts updates to the web server from now on; nothing to poll.
            await deps.bot.set_webhook(
                settings.webhook_url,
                secret_token=webhook_secret(settings),
                allowed_updates=dp.resolve_used_update_types(),
            )
        else:
            # A webhook left by an earlier deployment would make every poll a conflict.
            await deps.bot.delete_webhook()
            tasks.append(
                asyncio.create_task(
                    dp.start_polling(deps.bot, handle_signals=False, close_bot_session=False),
                    name="polling",
                )
            )
    elif settings.worker_web_port:
        status = create_status_app(StatusDeps(deps.sessions, redis, workers))
        runner = await _start_site(status, settings.worker_web_host, settings.worker_web_port)
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
        log.info("stopping: running stages get %.0f s to finish", settings.shutdown_grace)
        if dp is not None:
            with contextlib.suppress(RuntimeError):
                await dp.stop_polling()
        await asyncio.gather(*(stop_worker(w, settings.shutdown_grace) for w in workers))
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if presence is not None:
            await presence.stop()
        if runner is not None:
            await runner.cleanup()
        await close_deps(deps)
        await redis.aclose()
        log.info("stopped")


async def _start_site(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
