"""The share link message's keyboard: the switch that turns that very link off."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from jobs.cards.callbacks import SHARE_OFF, ShareCb
from locales import Translator


def link_message(_: Translator, rec: int, sid: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=_("share.button_revoke"), callback_data=ShareCb(action=SHARE_OFF, rec=rec, sid=sid)
    )
    return builder.as_markup()
