"""Callback data of the Zoom recordings list: a short key of one listed recording, nothing more.

Zoom's meeting UUIDs and file ids do not fit in 64 bytes together, so the list keeps what it
showed in Redis under a random key and the button carries that key.
"""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class ZoomPickCb(CallbackData, prefix="zm1"):
    key: str
