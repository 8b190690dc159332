"""The bot joining or leaving a group, Telegram's promotions and demotions as they happen, and
a group that becomes a supergroup (and so another chat)."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from aiogram import Bot, F, Router
from aiogram.filters import JOIN_TRANSITION, LEAVE_TRANSITION, ChatMemberUpdatedFilter
from aiogram.types import ChatMemberUpdated, Message
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.filters import (
    added_by,
    apply_role,
    grant_admin,
    granted_admins,
    remember_adder,
    role_from_status,
    sync_roles,
)
from locales import Translator
from storage import repo
from storage.models import (
    AuditEvent,
    Credential,
    Recording,
    Role,
    Template,
    Workspace,
    WorkspaceKind,
)

log = logging.getLogger(__name__)

_GONE = ("left", "kicked")


async def bot_added(
    event: ChatMemberUpdated, bot: Bot, session: AsyncSession, workspace: Workspace, _: Translator
) -> None:
    """The bot joined: whoever brought it into a group nobody runs here yet sets it up.

    Adding it back to a group that has an owner or admins changes no one's role: the person
    who re-adds it is whatever Telegram (and the owner's grants) make them, or /roles powers
    would be one removal and one re-add away for any member.
    """
    adder = event.from_user
    statuses = await sync_roles(bot, session, workspace)
    setting_up = await _unclaimed(session, workspace)
    if setting_up:
        await remember_adder(session, workspace, adder.id)
        if statuses is None or adder.id not in statuses:
            # Being no Telegram admin must not stop the one who sets the bot up.
            await grant_admin(session, workspace, adder.id, True)
    member = await repo.upsert_member(session, workspace.id, adder.id, name=adder.full_name)
    if statuses is not None or setting_up:
        status = (statuses or {}).get(adder.id, "member")
        role = role_from_status(status, adder.id in granted_admins(workspace))
        await apply_role(session, workspace, member, role, actor=adder.id, source="added_bot")
    await repo.audit(session, workspace.id, adder.id, "bot_added", str(event.chat.id))
    await bot.send_message(event.chat.id, _("start.added_to_group"))


async def _unclaimed(session: AsyncSession, workspace: Workspace) -> bool:
    """Whether the group is new to the bot, or has nobody left here who may run it."""
    if added_by(workspace) is None and not await _was_added_before(session, workspace):
        return True
    admins = await repo.members_with_roles(session, workspace.id, (Role.OWNER, Role.ADMIN))
    return not admins


async def _was_added_before(session: AsyncSession, workspace: Workspace) -> bool:
    # Groups set up before the adder was recorded still have the event in their log.
    earlier = await session.scalar(
        sa.select(sa.func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.workspace_id == workspace.id, AuditEvent.action == "bot_added")
    )
    return bool(earlier)


async def bot_removed(
    event: ChatMemberUpdated, session: AsyncSession, workspace: Workspace
) -> None:
    """Someone removed the bot: nothing can be said in the group any more, but the log keeps it.

    The workspace and its recordings stay, so adding the bot back carries on where it stopped.
    """
    actor = event.from_user.id if event.from_user else None
    status = event.new_chat_member.status
    await repo.audit(session, workspace.id, actor, "bot_removed", str(event.chat.id), status=status)
    log.info(
        "workspace %s: the bot was removed from chat %s (%s)", workspace.id, event.chat.id, status
    )


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
        await grant_admin(session, workspace, user.id, False)
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


# Tries to move a workspace while the other service message's update may be writing too.
_MOVE_TRIES = 3


async def chat_migrated(message: Message, session: AsyncSession) -> None:
    """The group became a supergroup, which has a chat id of its own: the workspace follows.

    Telegram says so twice, in the old chat (migrate_to_chat_id) and in the new one
    (migrate_from_chat_id); updates are handled concurrently, so either may come first, and
    the one in the new chat finds a workspace the middleware has just made for it.
    """
    if message.migrate_to_chat_id is not None:
        old, new = message.chat.id, message.migrate_to_chat_id
    elif message.migrate_from_chat_id is not None:
        old, new = message.migrate_from_chat_id, message.chat.id
    else:
        return
    actor = message.from_user.id if message.from_user else None
    for attempt in range(1, _MOVE_TRIES + 1):
        try:
            await move_workspace(session, old, new, actor)
            return
        except (IntegrityError, OperationalError) as exc:
            # The other message's update wrote first: look again at what it left.
            await session.rollback()
            log.info("chat %s → %s: moving the workspace again (%s)", old, new, type(exc).__name__)
            if attempt == _MOVE_TRIES:
                raise


async def move_workspace(
    session: AsyncSession, old_chat_id: int, new_chat_id: int, actor: int | None
) -> Workspace | None:
    """Give the old chat's workspace the new chat id, and its recordings too; commits.

    A workspace already made for the new chat is deleted when it holds nothing of its own
    (no recordings, connections or templates); one that does is left, and so is the old one.
    Returns the moved workspace, None when there was nothing (more) to move.
    """
    moving = await repo.workspace_by_chat(session, old_chat_id)
    if moving is None:
        return None
    there = await repo.workspace_by_chat(session, new_chat_id)
    if there is not None and there.id != moving.id:
        if await _holds_anything(session, there):
            log.warning(
                "chat %s became %s, but workspace %s there already has recordings, connections "
                "or templates: workspace %s stays with the old chat",
                old_chat_id,
                new_chat_id,
                there.id,
                moving.id,
            )
            return None
        # Its members and log go with it (ON DELETE CASCADE): they hold only the last moments.
        await session.execute(
            sa.delete(Workspace).where(Workspace.id == there.id),
            execution_options={"synchronize_session": False},
        )
        session.expunge(there)
    # Conditional, so that of two updates moving it at once exactly one does (and audits it).
    moved = await session.execute(
        sa.update(Workspace)
        .where(Workspace.id == moving.id, Workspace.chat_id == old_chat_id)
        .values(chat_id=new_chat_id)
    )
    if moved.rowcount != 1:
        await session.rollback()
        return None
    # Progress, review cards and links go to the recording's chat; the old one takes no more.
    await session.execute(
        sa.update(Recording)
        .where(Recording.workspace_id == moving.id, Recording.chat_id == old_chat_id)
        .values(chat_id=new_chat_id)
        .execution_options(synchronize_session=False)
    )
    await repo.audit(session, moving.id, actor, "chat_migrated", str(new_chat_id), was=old_chat_id)
    await session.commit()
    log.info("workspace %s moved from chat %s to chat %s", moving.id, old_chat_id, new_chat_id)
    return moving


async def _holds_anything(session: AsyncSession, workspace: Workspace) -> bool:
    for model in (Recording, Credential, Template):
        found = await session.scalar(
            sa.select(sa.func.count()).select_from(model).where(model.workspace_id == workspace.id)
        )
        if found:
            return True
    return False


def make_router() -> Router:
    router = Router(name=__name__)
    router.my_chat_member.filter(F.chat.type.in_({"group", "supergroup"}))
    router.my_chat_member.register(bot_added, ChatMemberUpdatedFilter(JOIN_TRANSITION))
    router.my_chat_member.register(bot_removed, ChatMemberUpdatedFilter(LEAVE_TRANSITION))
    router.chat_member.filter(F.chat.type.in_({"group", "supergroup"}))
    router.chat_member.register(member_changed)
    router.message.register(chat_migrated, F.migrate_to_chat_id | F.migrate_from_chat_id)
    return router
