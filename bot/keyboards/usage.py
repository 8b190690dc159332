"""Keyboard of /usage."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks.usage import UsageCb
from locales import Translator


def usage(_: Translator) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=_("usage.refresh"), callback_data=UsageCb())
    return builder.as_markup()
