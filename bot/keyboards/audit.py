"""Keyboard of /audit: newer and older pages."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks.audit import AuditCb
from locales import Translator


def pages(_: Translator, number: int, count: int) -> InlineKeyboardMarkup | None:
    builder = InlineKeyboardBuilder()
    if number > 0:
        builder.button(text=_("audit.newer"), callback_data=AuditCb(page=number - 1))
    if number + 1 < count:
        builder.button(text=_("audit.older"), callback_data=AuditCb(page=number + 1))
    if not number and count <= 1:
        return None
    return builder.as_markup()
