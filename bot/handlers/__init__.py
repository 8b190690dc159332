"""The routers, in the order they see an update; the fallback comes last.

Routers are made per dispatcher (a router can belong to one dispatcher only), so tests and
tools can build as many dispatchers as they need in one process.
"""

from __future__ import annotations

from aiogram import Router

from bot.handlers import (
    connections,
    fallback,
    groups,
    intake,
    links,
    recordings,
    review,
    settings_menu,
    start,
    templates,
    zoom,
)


def routers() -> list[Router]:
    return [
        m.make_router()
        for m in (
            start,
            groups,
            connections,
            zoom,
            review,
            recordings,
            templates,
            settings_menu,
            intake,
            links,
            fallback,
        )
    ]
