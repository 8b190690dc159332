"""The routers, in the order they see an update; the fallback comes last."""

from __future__ import annotations

from aiogram import Router

from bot.handlers import fallback, groups, intake, start


def routers() -> list[Router]:
    return [start.router, groups.router, intake.router, fallback.router]
