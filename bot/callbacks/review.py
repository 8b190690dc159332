"""Callback data of the topic editor (the review card's own buttons live in jobs.cards)."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class TopicCb(CallbackData, prefix="tp1"):
    action: str
    rec: int
    idx: int = -1


PICK = "pick"
RENAME = "ren"
RETIME = "tim"
DELETE = "del"
ADD = "add"
LIST = "lst"
BACK = "bk"
CLOSE = "end"
