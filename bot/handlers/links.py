"""Recordings arriving as links: one recording per video, checked before download."""

from __future__ import annotations

from aiogram import Router


def make_router() -> Router:
    return Router(name=__name__)
