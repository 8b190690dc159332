"""Connecting the workspace's accounts: YouTube, VK, a Telegram channel."""

from __future__ import annotations

from aiogram import Router


def make_router() -> Router:
    return Router(name=__name__)
