"""Keyboards of /zoom and /zoom_connect."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks.zoom import ZoomPickCb
from locales import Translator

_TOPIC_CHARS = 40


def recordings(_: Translator, items: Sequence[tuple[int, str, str]]) -> InlineKeyboardMarkup | None:
    """One button per importable recording: (number in the list, topic, key)."""
    if not items:
        return None
    builder = InlineKeyboardBuilder()
    for number, topic, key in items:
        short = topic if len(topic) <= _TOPIC_CHARS else topic[: _TOPIC_CHARS - 1] + "…"
        builder.button(
            text=_("zoom.button", n=number, topic=short), callback_data=ZoomPickCb(key=key)
        )
    builder.adjust(1)
    return builder.as_markup()


def open_private(_: Translator, url: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=_("zoom.open_private"), url=url)
    return builder.as_markup()
