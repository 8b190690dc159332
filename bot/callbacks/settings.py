"""Callback data of /settings."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class SetCb(CallbackData, prefix="st1"):
    action: str
    value: str = ""


MENU = "menu"
SECTION = "sec"
LANGUAGE = "lang"
PLATFORM = "plat"
TRIM = "trim"
STT = "stt"
AUTO = "auto"

CHANGES = frozenset({LANGUAGE, PLATFORM, TRIM, STT, AUTO})
