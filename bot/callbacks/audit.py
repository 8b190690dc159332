"""Callback data of /audit: a page of the log, newest first."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class AuditCb(CallbackData, prefix="au1"):
    page: int = 0
