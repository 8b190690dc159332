"""Callback data of /usage."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class UsageCb(CallbackData, prefix="us1"):
    action: str = "refresh"
