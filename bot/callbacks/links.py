"""Callback data of the playlist offer: the offer itself is keyed by its message in Redis."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class PlaylistCb(CallbackData, prefix="lk1"):
    action: str


ACCEPT = "y"
DECLINE = "n"
