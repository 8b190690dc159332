"""Callback data of the buttons the workers post: Retry, the review card's, and its outcome's.

The bot's handlers filter on these same classes, so a button a worker posted and the handler
that answers it cannot disagree. The rules every callback here keeps:

- a short, versioned prefix (``rt1``, ``rv1``, ``rp1``, ``rg1``, ``ro1``): a change in what a button
  carries gets a new prefix, so a button left on an old card is never read with a new meaning;
- ids and short action names only, well under Telegram's 64 bytes; whoever handles a press
  re-checks that the recording belongs to the chat's workspace and that the presser may act.
"""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class RetryCb(CallbackData, prefix="rt1"):
    rec: int


class ReviewCb(CallbackData, prefix="rv1"):
    action: str
    rec: int


class PlatformCb(CallbackData, prefix="rp1"):
    rec: int
    p: str


class GranularityCb(CallbackData, prefix="rg1"):
    """Make the recording's chapters again, fewer, as usual or more (``g``)."""

    rec: int
    g: str


PUBLISH = "pub"
TOPICS = "top"
TITLE = "ttl"
DESCRIPTION = "dsc"
SUMMARY = "sum"
PREVIEW = "pre"
DISCARD = "dis"
REVIEW_ACTIONS = (PUBLISH, TOPICS, TITLE, DESCRIPTION, SUMMARY, PREVIEW, DISCARD)
# The answers to "Discard?": never on the card itself, only under the question.
DISCARD_SURE = "dsy"
DISCARD_KEEP = "dsn"


class TranslateCb(CallbackData, prefix="rl1"):
    """Translate the recording's subtitles into ``to`` (a language code); empty: ask which."""

    rec: int
    to: str = ""


class PresetCb(CallbackData, prefix="ps1"):
    """Publish presets (bot.handlers.presets): of a recording (``k`` "r") or a template ("t"),
    ``f`` the field pressed ("" opens the presets), by id."""

    k: str
    id: int
    f: str = ""


class OutcomeCb(CallbackData, prefix="ro1"):
    """Buttons of a card whose publishing has ended, and of the question Delete asks."""

    action: str
    rec: int


AGAIN = "again"
DELETE = "del"
DELETE_SURE = "dly"
DELETE_KEEP = "dln"


class ShareCb(CallbackData, prefix="rs1"):
    """The recording's share page: give its link (``open``) or turn the link off (``off``);
    ``sid`` names the link an off switch was given with, so it never turns off a newer one."""

    action: str
    rec: int
    sid: str = ""


SHARE_OPEN = "open"
SHARE_OFF = "off"
