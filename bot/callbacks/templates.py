"""Callback data of /templates: the list and one template's card."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class TplCb(CallbackData, prefix="tm1"):
    action: str
    tpl: int = 0
    p: str = ""


LIST = "list"
OPEN = "open"
NEW = "new"
TITLE = "ttl"
DESCRIPTION = "dsc"
KEYWORDS = "kw"
PRIORITY = "pri"
AUTO = "auto"
ENABLED = "on"
PLATFORM = "plat"
PREVIEW = "prev"
FILE = "file"
DELETE = "del"
DELETE_SURE = "delok"
# How finely the template's recordings are cut into chapters (fewer, usual, more).
GRANULARITY = "gra"

# What only admins may press; viewing, previewing and downloading are for everyone.
CHANGES = frozenset(
    {
        NEW,
        TITLE,
        DESCRIPTION,
        KEYWORDS,
        PRIORITY,
        AUTO,
        ENABLED,
        PLATFORM,
        GRANULARITY,
        DELETE,
        DELETE_SURE,
    }
)
