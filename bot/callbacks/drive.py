"""Callback data of the Drive access offer: nothing but the action, checked by the handler."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class DriveCb(CallbackData, prefix="gd1"):
    """ "Give the bot access to my Google Drive" under a refused private Drive link."""

    action: str = "connect"
