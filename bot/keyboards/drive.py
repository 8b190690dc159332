"""The button under a private Drive link the bot cannot read yet."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks.drive import DriveCb
from locales import Translator


def connect_drive(_: Translator) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=_("drive.connect_button"), callback_data=DriveCb())
    return builder.as_markup()


def consent(_: Translator, url: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=_("drive.open_consent"), url=url)
    return builder.as_markup()
