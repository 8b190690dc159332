"""The bot's web server: health, metrics, OAuth callbacks, download links.

`/healthz` answers 200 when the database and Redis answer (and, in a process that runs
workers, every worker loop is alive), 503 with what failed otherwise. `/metrics` is the
Prometheus text format (jobs.metrics). `leap worker` serves the same two on its own port
through `create_status_app`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiogram import Bot
from aiohttp import web
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jobs import metrics
from leap.settings import Settings
from storage.crypto import SecretBox
from storage.files import MediaStore

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


@dataclass
class WebDeps:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    redis: ArqRedis
    bot: Bot
    store: MediaStore
    secrets: SecretBox | None
    # The arq workers running in this process, if any: /healthz checks their loops.
    workers: Sequence[Any] = field(default_factory=tuple)


@dataclass
class StatusDeps:
    """What /healthz and /metrics need: the database, Redis and this process's workers."""

    sessions: async_sessionmaker[AsyncSession] | None
    redis: Any
    workers: Sequence[Any] = field(default_factory=tuple)


DEPS = web.AppKey("deps", WebDeps)
STATUS = web.AppKey("status", StatusDeps)


async def healthz(request: web.Request) -> web.Response:
    status = request.app[STATUS]
    ok, report = await metrics.health(status.sessions, status.redis, status.workers)
    return web.json_response({"ok": ok, **report}, status=200 if ok else 503)


async def metrics_page(request: web.Request) -> web.Response:
    text = await metrics.render(request.app[STATUS].redis)
    return web.Response(body=text.encode(), headers={"Content-Type": PROMETHEUS_TEXT})


def add_status_routes(app: web.Application, status: StatusDeps) -> None:
    app[STATUS] = status
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_page)


def create_status_app(status: StatusDeps) -> web.Application:
    """/healthz and /metrics alone, for a process that runs workers without the bot."""
    app = web.Application()
    add_status_routes(app, status)
    return app


def create_web_app(deps: WebDeps) -> web.Application:
    from bot import oauth, share_page

    app = web.Application()
    app[DEPS] = deps
    add_status_routes(app, StatusDeps(deps.sessions, deps.redis, deps.workers))
    oauth.setup(app)
    share_page.setup(app)
    return app
