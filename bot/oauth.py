"""OAuth callbacks and download links served by the bot's web server."""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Add this module's routes to the bot's web application."""
