"""The bot's web server: health, OAuth callbacks, download links."""

from __future__ import annotations

from dataclasses import dataclass

from aiogram import Bot
from aiohttp import web
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from leap.settings import Settings
from storage.crypto import SecretBox
from storage.files import MediaStore


@dataclass
class WebDeps:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    redis: ArqRedis
    bot: Bot
    store: MediaStore
    secrets: SecretBox | None


DEPS = web.AppKey("deps", WebDeps)


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def create_web_app(deps: WebDeps) -> web.Application:
    from bot import oauth

    app = web.Application()
    app[DEPS] = deps
    app.router.add_get("/healthz", healthz)
    oauth.setup(app)
    return app
