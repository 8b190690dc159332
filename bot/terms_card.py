"""The key terms on a /templates card: the line that shows them and the button that changes them.

Rules:
- The button's callback data carries the template's id only (``kt1:<id>``); the handler finds
  the template within the chat's workspace again, and only admins get past its router.
- Terms a person typed are HTML-escaped; the line shows at most :data:`SHOWN_CHARS` of them.
"""

from __future__ import annotations

import html

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from locales import Translator
from pipeline.templates import Template

__all__ = ["SHOWN_CHARS", "TermsCb", "card_line", "with_terms_button"]

SHOWN_CHARS = 300


class TermsCb(CallbackData, prefix="kt1"):
    """A template card's key-terms button."""

    tpl: int


def shown(terms: list[str], limit: int = SHOWN_CHARS) -> str:
    """The terms, comma-separated and escaped, cut at ``limit`` characters with "…"."""
    text = ", ".join(terms)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return html.escape(text)


def card_line(_: Translator, template: Template) -> str:
    if not template.terms:
        return _("terms.card_none")
    return _("terms.card_line", terms=shown(template.terms))


def with_terms_button(
    _: Translator, markup: InlineKeyboardMarkup | None, row_id: int
) -> InlineKeyboardMarkup | None:
    """``markup`` with the key-terms button as a row of its own, above the last row."""
    if markup is None:
        return None
    button = InlineKeyboardButton(
        text=_("terms.template_button"), callback_data=TermsCb(tpl=row_id).pack()
    )
    rows = list(markup.inline_keyboard)
    at = max(len(rows) - 1, 0)
    return InlineKeyboardMarkup(inline_keyboard=[*rows[:at], [button], *rows[at:]])
