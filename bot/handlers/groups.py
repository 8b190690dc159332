"""The bot joining a group, and Telegram admins becoming workspace admins."""

from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import JOIN_TRANSITION, ChatMemberUpdatedFilter
from aiogram.types import ChatMemberUpdated
from sqlalchemy.ext.asyncio import AsyncSession

from locales import Translator
from storage import repo
from storage.models import Role, Workspace

log = logging.getLogger(__name__)


async def bot_added(
    event: ChatMemberUpdated, bot: Bot, session: AsyncSession, workspace: Workspace, _: Translator
) -> None:
    adder = event.from_user
    await repo.upsert_member(session, workspace.id, adder.id, role=Role.ADMIN, name=adder.full_name)
    await sync_admins(bot, session, workspace)
    await repo.audit(session, workspace.id, adder.id, "bot_added", str(event.chat.id))
    await bot.send_message(event.chat.id, _("start.added_to_group"))


async def member_changed(
    event: ChatMemberUpdated, session: AsyncSession, workspace: Workspace
) -> None:
    status = event.new_chat_member.status
    role = {"creator": Role.OWNER, "administrator": Role.ADMIN}.get(status, Role.MEMBER)
    user = event.new_chat_member.user
    await repo.upsert_member(session, workspace.id, user.id, role=role, name=user.full_name)


async def sync_admins(bot: Bot, session: AsyncSession, workspace: Workspace) -> None:
    try:
        admins = await bot.get_chat_administrators(workspace.chat_id)
    except TelegramAPIError as exc:
        log.warning("cannot list group admins: %s", exc.message)
        return
    for admin in admins:
        if admin.user.is_bot:
            continue
        role = Role.OWNER if admin.status == "creator" else Role.ADMIN
        await repo.upsert_member(
            session, workspace.id, admin.user.id, role=role, name=admin.user.full_name
        )


def make_router() -> Router:
    router = Router(name=__name__)
    router.my_chat_member.filter(F.chat.type.in_({"group", "supergroup"}))
    router.my_chat_member.register(bot_added, ChatMemberUpdatedFilter(JOIN_TRANSITION))
    router.chat_member.register(member_changed)
    return router
