"""Callback data of /roles: a page of members, or a grant or revoke for one of them."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class RolesCb(CallbackData, prefix="ro1"):
    action: str
    user: int = 0
    page: int = 0


PAGE = "page"
GRANT = "grant"
REVOKE = "revoke"
