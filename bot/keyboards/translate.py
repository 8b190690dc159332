"""The choice of language a subtitle translation goes into."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from jobs.cards.callbacks import TranslateCb
from jobs.translate import TARGETS
from locales import Translator
from locales.format import language_name


def named(_: Translator, code: str) -> str:
    """A language's name as a button shows it: "English", "Английский"."""
    name = language_name(_.lang, code)
    return name[:1].upper() + name[1:]


def target_languages(_: Translator, rec: int, source: str, default: str) -> InlineKeyboardMarkup:
    """The usual target first on a row of its own, then every other language offered."""
    builder = InlineKeyboardBuilder()
    builder.button(
        text=_("translate.choose_default", language=named(_, default)),
        callback_data=TranslateCb(rec=rec, to=default),
    )
    others = [c for c in TARGETS if c not in (default, source)]
    for code in others:
        builder.button(text=named(_, code), callback_data=TranslateCb(rec=rec, to=code))
    builder.adjust(1, 3)
    return builder.as_markup()
