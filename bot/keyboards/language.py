"""Every inline keyboard the bot shows."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks.language import LanguageCb

LANGUAGE_NAMES = {"en": "English", "ru": "Русский"}


def languages(current: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for code, name in LANGUAGE_NAMES.items():
        mark = "✓ " if code == current else ""
        builder.button(text=f"{mark}{name}", callback_data=LanguageCb(lang=code))
    builder.adjust(2)
    return builder.as_markup()
