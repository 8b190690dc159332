"""The bot's web server: health now; OAuth callbacks and webhooks hang off the same app."""

from __future__ import annotations

from aiohttp import web

from leap.settings import Settings


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


SETTINGS = web.AppKey("settings", Settings)


def create_web_app(settings: Settings) -> web.Application:
    app = web.Application()
    app[SETTINGS] = settings
    app.router.add_get("/healthz", healthz)
    return app
