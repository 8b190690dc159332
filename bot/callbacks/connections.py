"""Callback data of the connection menus: a provider name or a credential id, nothing more."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class ConnectCb(CallbackData, prefix="cn1"):
    provider: str


class DisconnectCb(CallbackData, prefix="cn2"):
    credential_id: int
