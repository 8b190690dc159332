"""The bot joining a group, and Telegram's promotions and demotions followed as they happen."""

from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.filters import JOIN_TRANSITION, ChatMemberUpdatedFilter
from aiogram.types import ChatMemberUpdated
from sqlalchemy.ext.asyncio import AsyncSession

from bot.filters import (
    apply_role,
    granted_admins,
    record_adder,
    role_from_status,
    set_granted,
    sync_roles,
)
from locales import Translator
from storage import repo
from storage.models import Role, Workspace, WorkspaceKind

log = logging.getLogger(__name__)

_GONE = ("left", "kicked")


async def bot_added(
    event: ChatMemberUpdated, bot: Bot, session: AsyncSession, workspace: Workspace, _: Translator
) -> None:
    adder = event.from_user
    record_adder(workspace, adder.id)
    statuses = await sync_roles(bot, session, workspace)
    if statuses is None or adder.id not in statuses:
        # Whoever brings the bot in sets it up; being no Telegram admin must not stop them.
        set_granted(workspace, adder.id, True)
    member = await repo.upsert_member(session, workspace.id, adder.id, name=adder.full_name)
    status = (statuses or {}).get(adder.id, "member")
    role = role_from_status(status, adder.id in granted_admins(workspace))
    await apply_role(session, workspace, member, role, actor=adder.id, source="added_bot")
    await repo.audit(session, workspace.id, adder.id, "bot_added", str(event.chat.id))
    await bot.send_message(event.chat.id, _("start.added_to_group"))


async def member_changed(
    event: ChatMemberUpdated, session: AsyncSession, workspace: Workspace
) -> None:
    """Telegram says someone's status changed: their role follows, a granted one stays."""
    if workspace.kind is not WorkspaceKind.GROUP:
        return
    user = event.new_chat_member.user
    if user.is_bot:
        return
    status = event.new_chat_member.status
    actor = event.from_user.id if event.from_user else None
    granted = user.id in granted_admins(workspace)
    if status in _GONE and granted:
        # A grant belongs to a member of the group; someone who comes back is asked anew.
        set_granted(workspace, user.id, False)
        granted = False
        await repo.audit(
            session,
            workspace.id,
            actor,
            "role_revoked",
            f"user:{user.id}",
            name=user.full_name,
            by="left",
        )
    member = await repo.get_member(session, workspace.id, user.id)
    role = role_from_status(status, granted)
    if member is None:
        if status in _GONE:
            return
        member = await repo.upsert_member(
            session, workspace.id, user.id, role=Role.MEMBER, name=user.full_name
        )
    await apply_role(session, workspace, member, role, actor=actor, source="telegram")
    log.info("workspace %s: user %s is now %s (%s)", workspace.id, user.id, role, status)


def make_router() -> Router:
    router = Router(name=__name__)
    router.my_chat_member.filter(F.chat.type.in_({"group", "supergroup"}))
    router.my_chat_member.register(bot_added, ChatMemberUpdatedFilter(JOIN_TRANSITION))
    router.chat_member.filter(F.chat.type.in_({"group", "supergroup"}))
    router.chat_member.register(member_changed)
    return router
