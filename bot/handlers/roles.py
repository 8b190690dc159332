"""/roles: who is an admin in a team workspace, and admins made by the owner.

Telegram's own admins are admins here for as long as Telegram says so; the owner (or whoever
added the bot, while an admin) may make any other member an admin too, and take that back.
Every press asks Telegram for the member's status as it is now, so a stale row never lets
anyone demote a Telegram admin or promote someone who has left.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from aiogram import Bot, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import roles as cb
from bot.callbacks.roles import RolesCb
from bot.filters import (
    InGroup,
    ManagesRoles,
    grant_admin,
    granted_admins,
    role_from_status,
    telegram_status,
)
from bot.handlers.usage import edit_quietly
from bot.keyboards import roles as keyboards
from locales import Translator
from storage import repo
from storage.models import Member, Role, Workspace, utcnow

PAGE_SIZE = 8
_ADMINS = ("creator", "administrator")


def _name(member: Member) -> str:
    return member.name or str(member.user_id)


def _names(_: Translator, members: Sequence[Member]) -> str:
    return ", ".join(html.escape(_name(m)) for m in members) or _("roles.nobody")


async def view(
    session: AsyncSession, workspace: Workspace, number: int, _: Translator
) -> tuple[str, InlineKeyboardMarkup]:
    """The text and keyboard of one page of /roles."""
    everyone = list(await repo.members(session, workspace.id))
    granted = granted_admins(workspace)
    owners = [m for m in everyone if m.role is Role.OWNER]
    telegram_admins = [m for m in everyone if m.role is Role.ADMIN and m.user_id not in granted]
    made_here = [m for m in everyone if m.role is Role.ADMIN and m.user_id in granted]
    members = [m for m in everyone if m.role is Role.MEMBER]
    lines = [
        _("roles.title", title=html.escape(workspace.title or str(workspace.chat_id))),
        _("roles.owner", names=_names(_, owners)),
        _("roles.telegram_admins", names=_names(_, telegram_admins)),
        _("roles.granted", names=_names(_, made_here)),
        _("roles.members", count=len(members)),
        "",
    ]
    # Those whose role can be changed here: admins made here first, then members by name.
    changeable = [(m, True) for m in made_here] + [
        (m, False) for m in sorted(members, key=lambda m: _name(m).lower())
    ]
    pages = max((len(changeable) + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    number = min(max(number, 0), pages - 1)
    shown = changeable[number * PAGE_SIZE : (number + 1) * PAGE_SIZE]
    lines.append(_("roles.hint") if changeable else _("roles.no_members"))
    if pages > 1:
        lines.append(_("roles.page", page=number + 1, pages=pages))
    markup = keyboards.page(_, shown, number, number + 1 < pages)
    return "\n".join(lines), markup


async def roles_command(
    message: Message, session: AsyncSession, workspace: Workspace, _: Translator
) -> None:
    text, markup = await view(session, workspace, 0, _)
    await message.answer(text, reply_markup=markup)


async def roles_pressed(
    query: CallbackQuery,
    callback_data: RolesCb,
    session: AsyncSession,
    workspace: Workspace,
    bot: Bot,
    _: Translator,
) -> None:
    if callback_data.action in (cb.GRANT, cb.REVOKE):
        note = await _change(query, callback_data, session, workspace, bot, _)
        if note is None:
            return
        await query.answer(note)
    else:
        await query.answer()
    if isinstance(query.message, Message):
        text, markup = await view(session, workspace, callback_data.page, _)
        # A page pressed twice shows what is shown already.
        await edit_quietly(query.message, text, markup)


async def _change(
    query: CallbackQuery,
    callback_data: RolesCb,
    session: AsyncSession,
    workspace: Workspace,
    bot: Bot,
    _: Translator,
) -> str | None:
    """Grant or revoke; the note to show, or None when the press was answered with a refusal."""
    member = await repo.get_member(session, workspace.id, callback_data.user)
    if member is None:
        await query.answer(_("roles.not_found"), show_alert=True)
        return None
    name = _name(member)
    status = await telegram_status(bot, workspace.chat_id, member.user_id)
    if status in ("left", "kicked"):
        await grant_admin(session, workspace, member.user_id, False)
        member.role = role_from_status(status, False)
        await query.answer(_("roles.gone", name=name), show_alert=True)
        return None
    granting = callback_data.action == cb.GRANT
    if granting and status in _ADMINS:
        # Nothing to grant; the row was stale, so bring it up to date while here.
        member.role = role_from_status(status, False)
        member.updated_at = utcnow()
        await query.answer(_("roles.is_telegram_admin", name=name), show_alert=True)
        return None
    if not granting and status in _ADMINS:
        await query.answer(_("roles.stays_admin", name=name), show_alert=True)
        return None
    # From the grants saved last: an admin may be changing /settings at this very moment.
    await grant_admin(session, workspace, member.user_id, granting)
    before = member.role
    member.role = role_from_status(status or "member", granting)
    member.updated_at = utcnow()
    await repo.audit(
        session,
        workspace.id,
        query.from_user.id,
        "role_granted" if granting else "role_revoked",
        f"user:{member.user_id}",
        name=name,
        role=member.role.value,
        was=before.value,
    )
    await session.commit()
    return _("roles.granted_done" if granting else "roles.revoked_done", name=name)


async def roles_in_private(message: Message, _: Translator) -> None:
    await message.answer(_("roles.private"))


async def refuse_roles(query: CallbackQuery, _: Translator) -> None:
    await query.answer(_("roles.not_allowed"), show_alert=True)


async def refuse_roles_message(message: Message, _: Translator) -> None:
    await message.reply(_("roles.not_allowed"))


def make_router() -> Router:
    router = Router(name=__name__)
    router.message.register(roles_in_private, Command("roles"), ~InGroup())

    managers = Router(name=f"{__name__}.managers")
    managers.message.filter(ManagesRoles())
    managers.callback_query.filter(ManagesRoles())
    managers.message.register(roles_command, Command("roles"))
    managers.callback_query.register(roles_pressed, RolesCb.filter())

    refused = Router(name=f"{__name__}.refused")
    refused.message.register(refuse_roles_message, Command("roles"))
    refused.callback_query.register(refuse_roles, RolesCb.filter())

    router.include_routers(managers, refused)
    return router
