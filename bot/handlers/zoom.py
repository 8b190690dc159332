"""Zoom cloud recordings: connecting accounts, listing and importing recordings."""

from __future__ import annotations

from aiogram import Router


def make_router() -> Router:
    return Router(name=__name__)
