"""Callback data of the connection menus: a provider name or a credential id, nothing more."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class ConnectCb(CallbackData, prefix="cn1"):
    provider: str


class DisconnectCb(CallbackData, prefix="cn2"):
    credential_id: int


class SignInCb(CallbackData, prefix="cn3"):
    """Confirm ("ok") or Cancel ("no") of a finished sign-in, by its random key."""

    action: str
    key: str
