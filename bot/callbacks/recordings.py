"""Callback data of /recordings: the list's pages and one recording's card."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class RecListCb(CallbackData, prefix="rl1"):
    page: int


class RecCb(CallbackData, prefix="rc1"):
    action: str
    rec: int
    page: int = 0


OPEN = "open"
RETRY = "retry"
CANCEL = "cancel"
DELETE = "del"
DELETE_SURE = "delok"
REVIEW = "review"
PUBLISH_AGAIN = "repub"
DOWNLOADS = "dl"


class RecCsvCb(CallbackData, prefix="rx1"):
    """The workspace's whole list of recordings as a CSV file."""
