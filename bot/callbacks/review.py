"""Callback data of the topic editor (the review card's own buttons live in jobs.cards)."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class TopicCb(CallbackData, prefix="tp1"):
    """`idx` is the topic's place in the list and `at` its start in ms, which tells whether
    the place still holds the topic the button was drawn for (someone may have changed the
    list since)."""

    action: str
    rec: int
    idx: int = -1
    at: int = -1


PICK = "pick"
RENAME = "ren"
RETIME = "tim"
DELETE = "del"
ADD = "add"
LIST = "lst"
BACK = "bk"
CLOSE = "end"
