"""Keyboard of /roles: a button per member who may be made an admin here, and the pages."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import roles as cb
from bot.callbacks.roles import RolesCb
from locales import Translator
from storage.models import Member

_LABEL = 32


def _short(name: str) -> str:
    return name if len(name) <= _LABEL else name[: _LABEL - 1] + "…"


def page(
    _: Translator, members: Sequence[tuple[Member, bool]], number: int, more: bool
) -> InlineKeyboardMarkup:
    """`members`: each member with whether an owner made them an admin here."""
    builder = InlineKeyboardBuilder()
    for member, granted in members:
        name = _short(member.name or str(member.user_id))
        if granted:
            text = _("roles.button_granted", name=name)
            action = cb.REVOKE
        else:
            text = _("roles.button_member", name=name)
            action = cb.GRANT
        builder.button(
            text=text, callback_data=RolesCb(action=action, user=member.user_id, page=number)
        )
    turns = 0
    if number > 0:
        builder.button(
            text=_("roles.newer"), callback_data=RolesCb(action=cb.PAGE, page=number - 1)
        )
        turns += 1
    if more:
        builder.button(
            text=_("roles.older"), callback_data=RolesCb(action=cb.PAGE, page=number + 1)
        )
        turns += 1
    builder.adjust(*([1] * len(members)), max(turns, 1))
    return builder.as_markup()
