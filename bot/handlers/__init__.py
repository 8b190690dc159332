"""The routers, in the order they see an update; the fallback comes last.

Routers are made per dispatcher (a router can belong to one dispatcher only), so tests and
tools can build as many dispatchers as they need in one process. Each gets the rate limits
as an inner middleware, which the routers nested in it inherit: only an update some handler
takes counts against them.
"""

from __future__ import annotations

from aiogram import Router

from bot.handlers import (
    audit,
    cancel,
    connections,
    drive,
    fallback,
    find,
    groups,
    intake,
    links,
    presets,
    questions,
    recordings,
    republish,
    review,
    roles,
    settings_menu,
    share,
    start,
    templates,
    terms,
    translate,
    usage,
    zoom,
)
from bot.middlewares import RateLimitMiddleware


def routers() -> list[Router]:
    made = [
        m.make_router()
        for m in (
            cancel,
            start,
            groups,
            roles,
            usage,
            audit,
            find,
            connections,
            drive,
            zoom,
            review,
            presets,
            questions,
            share,
            translate,
            republish,
            recordings,
            templates,
            terms,
            settings_menu,
            intake,
            links,
            fallback,
        )
    ]
    limits = RateLimitMiddleware()
    for router in made:
        router.message.middleware(limits)
        router.callback_query.middleware(limits)
    return made
