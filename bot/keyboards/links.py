"""The keyboard under a playlist offer."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import links as cb
from bot.callbacks.links import PlaylistCb
from locales import Translator


def playlist_offer(_: Translator) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=_("links.accept"), callback_data=PlaylistCb(action=cb.ACCEPT))
    builder.button(text=_("links.decline"), callback_data=PlaylistCb(action=cb.DECLINE))
    builder.adjust(2)
    return builder.as_markup()
