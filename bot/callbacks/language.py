"""Callback data: short versioned prefixes and ids only."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class LanguageCb(CallbackData, prefix="lg1"):
    lang: str
