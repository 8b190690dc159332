"""Who may do what.

Roles are decided here and nowhere else: routers that change or publish put `IsAdmin()` on
themselves, and a refusal router after them answers everyone else. Two checks look beyond the
chat's own role: `AuthorOrAdmin()` (what a person started, they or an admin may answer) and
`AdminThere()` (a private message that acts on a group needs its sender to be admin there).
Recording ids that arrive in callback data are resolved here too, always within the chat's
workspace.

In a group Telegram's creator is the owner and its administrators are admins; the owner (and
whoever added the bot, while an admin) may also make other members admins. Such a grant is
kept in the workspace's settings, so it outlives promotions and demotions in Telegram, and a
Telegram admin stays an admin here for as long as Telegram says so.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Filter
from aiogram.types import CallbackQuery, Message, TelegramObject, User
from sqlalchemy.ext.asyncio import AsyncSession

from leap.settings import Settings
from locales import Translator
from storage import repo
from storage.models import Member, Role, Workspace, WorkspaceKind, utcnow

log = logging.getLogger(__name__)


class IsAdmin(Filter):
    """The sender is an owner or admin of the chat's workspace."""

    async def __call__(self, event: TelegramObject, role: Role | None = None) -> bool:
        return role is not None and role.is_admin


class ManagesRoles(Filter):
    """The sender may grant and revoke admin in this group: its owner, or who added the bot."""

    async def __call__(
        self,
        event: TelegramObject,
        role: Role | None = None,
        workspace: Workspace | None = None,
        event_from_user: User | None = None,
    ) -> bool:
        if role is None or workspace is None or event_from_user is None:
            return False
        if workspace.kind is not WorkspaceKind.GROUP:
            return False
        if role is Role.OWNER:
            return True
        # The one who brought the bot in sets the group up, until an owner takes that away.
        return role.is_admin and added_by(workspace) == event_from_user.id


class InGroup(Filter):
    """The chat is a team workspace."""

    async def __call__(self, event: TelegramObject, workspace: Workspace | None = None) -> bool:
        return workspace is not None and workspace.kind is WorkspaceKind.GROUP


class AuthorOrAdmin(Filter):
    """The sender made what the button answers, or is an admin.

    An earlier filter hands over the maker's user id as `author`; a playlist offer, for one,
    is answered by whoever sent the link, and an admin may answer for them.
    """

    async def __call__(
        self,
        event: TelegramObject,
        author: int | None = None,
        role: Role | None = None,
        event_from_user: User | None = None,
    ) -> bool:
        if role is not None and role.is_admin:
            return True
        return author is not None and event_from_user is not None and event_from_user.id == author


class AdminThere(Filter):
    """The sender is an admin of `target`, the group a private conversation acts on.

    An earlier filter hands over `target`; None means the sender's own personal workspace,
    which they own. The role middleware knows only the chat the update came from, so the
    group's member row is read here, and asked of Telegram again when it is old.
    """

    async def __call__(
        self,
        event: TelegramObject,
        session: AsyncSession,
        bot: Bot,
        settings: Settings,
        target: Workspace | None = None,
        event_from_user: User | None = None,
    ) -> bool:
        if target is None:
            return True
        if event_from_user is None:
            return False
        member = await repo.get_member(session, target.id, event_from_user.id)
        if member is None:
            return False
        if is_stale(member, settings.role_refresh_hours):
            member = await refresh_member(bot, session, target, event_from_user)
        return member.role.is_admin


# --- roles: Telegram's word, grants, and keeping both current ----------------------------

ROLES_KEY = "roles"
# Statuses of people who are not in the group (any more).
_GONE = frozenset({"left", "kicked"})


def role_from_status(status: str, granted: bool) -> Role:
    """A member's role from their Telegram status and whether an owner made them an admin."""
    if status == "creator":
        return Role.OWNER
    if status == "administrator":
        return Role.ADMIN
    if granted and status not in _GONE:
        return Role.ADMIN
    return Role.MEMBER


def _roles(workspace: Workspace) -> dict[str, Any]:
    return dict((workspace.settings or {}).get(ROLES_KEY) or {})


def granted_admins(workspace: Workspace) -> set[int]:
    return {int(user_id) for user_id in _roles(workspace).get("granted") or []}


def added_by(workspace: Workspace) -> int | None:
    value = _roles(workspace).get("added_by")
    return int(value) if value is not None else None


def _grant_in(settings: dict[str, Any], user_id: int, granted: bool) -> None:
    roles = dict(settings.get(ROLES_KEY) or {})
    users = {int(u) for u in roles.get("granted") or []}
    users = users | {user_id} if granted else users - {user_id}
    settings[ROLES_KEY] = {**roles, "granted": sorted(users)}


def _adder_in(settings: dict[str, Any], user_id: int) -> None:
    settings[ROLES_KEY] = {**(settings.get(ROLES_KEY) or {}), "added_by": user_id}


async def grant_admin(
    session: AsyncSession, workspace: Workspace, user_id: int, granted: bool
) -> None:
    """Make a member an admin here, or take it back, on the workspace's latest settings."""
    await repo.update_workspace_settings(
        session, workspace, lambda settings: _grant_in(settings, user_id, granted)
    )


async def remember_adder(session: AsyncSession, workspace: Workspace, user_id: int) -> None:
    """Keep who added the bot to the group, on the workspace's latest settings."""
    await repo.update_workspace_settings(
        session, workspace, lambda settings: _adder_in(settings, user_id)
    )


def is_stale(member: Member, hours: float) -> bool:
    seen = member.updated_at
    if seen is None:
        return True
    if seen.tzinfo is None:
        seen = seen.replace(tzinfo=UTC)
    return datetime.now(UTC) - seen > timedelta(hours=hours)


async def apply_role(
    session: AsyncSession,
    workspace: Workspace,
    member: Member,
    role: Role,
    *,
    actor: int | None,
    source: str,
    action: str = "role_changed",
) -> bool:
    """Set a member's role, mark it fresh, and keep a trace when it changed."""
    member.updated_at = utcnow()
    if member.role is role:
        return False
    before = member.role
    member.role = role
    await repo.audit(
        session,
        workspace.id,
        actor,
        action,
        f"user:{member.user_id}",
        role=role.value,
        was=before.value,
        by=source,
        name=member.name,
    )
    return True


async def sync_roles(
    bot: Bot, session: AsyncSession, workspace: Workspace
) -> dict[int, str] | None:
    """Read the group's admins from Telegram and bring every known member's role in line.

    Returns the Telegram status of each admin, or None when Telegram could not be asked.
    """
    try:
        admins = await bot.get_chat_administrators(workspace.chat_id)
    except TelegramAPIError as exc:
        log.warning("cannot list the admins of workspace %s: %s", workspace.id, exc.message)
        return None
    granted = granted_admins(workspace)
    statuses: dict[int, str] = {}
    for admin in admins:
        if admin.user.is_bot:
            continue
        statuses[admin.user.id] = admin.status
        member = await repo.get_member(session, workspace.id, admin.user.id)
        role = role_from_status(admin.status, admin.user.id in granted)
        if member is None:
            member = await repo.upsert_member(
                session, workspace.id, admin.user.id, role=role, name=admin.user.full_name
            )
        await apply_role(session, workspace, member, role, actor=None, source="telegram")
    # Whoever Telegram no longer lists keeps only what an owner granted.
    for member in await repo.members_with_roles(session, workspace.id, (Role.OWNER, Role.ADMIN)):
        if member.user_id not in statuses:
            role = role_from_status("member", member.user_id in granted)
            await apply_role(session, workspace, member, role, actor=None, source="telegram")
    return statuses


async def telegram_status(bot: Bot, chat_id: int, user_id: int) -> str | None:
    """One person's status in a group as Telegram has it now, or None when it cannot say."""
    try:
        found = await bot.get_chat_member(chat_id, user_id)
    except TelegramAPIError as exc:
        log.warning("cannot read chat member status: %s", exc.message)
        return None
    return str(found.status)


async def refresh_member(
    bot: Bot, session: AsyncSession, workspace: Workspace, user: User
) -> Member:
    """The sender's member row with a role Telegram has just confirmed (as far as it can)."""
    statuses = await sync_roles(bot, session, workspace)
    if statuses is not None:
        status: str | None = statuses.get(user.id, "member")
    else:
        status = await telegram_status(bot, workspace.chat_id, user.id)
    member = await repo.get_member(session, workspace.id, user.id)
    if member is None:
        role = role_from_status(status or "member", user.id in granted_admins(workspace))
        member = await repo.upsert_member(
            session, workspace.id, user.id, role=role, name=user.full_name
        )
        member.updated_at = utcnow()
    elif status is not None:
        role = role_from_status(status, user.id in granted_admins(workspace))
        await apply_role(session, workspace, member, role, actor=None, source="telegram")
    return member


class OwnRecording(Filter):
    """The callback names a recording of this chat's workspace; hands it over as `recording`."""

    async def __call__(
        self,
        event: TelegramObject,
        session: AsyncSession,
        workspace: Workspace | None = None,
        callback_data: Any = None,
    ) -> bool | dict[str, Any]:
        rec = getattr(callback_data, "rec", None)
        if workspace is None or not isinstance(rec, int):
            return False
        recording = await repo.get_recording(session, workspace.id, rec)
        if recording is None:
            return False
        return {"recording": recording}


async def refuse_non_admin(
    query: CallbackQuery,
    _: Translator,
    session: AsyncSession | None = None,
    workspace: Workspace | None = None,
    own: Translator | None = None,
) -> None:
    """An admin's button pressed by someone else: told in their own language who can act."""
    said = own or _
    admins = await admin_names(session, workspace) if session and workspace else []
    if admins and workspace is not None and workspace.kind is WorkspaceKind.GROUP:
        text = said("common.admins_only_named", names=", ".join(admins))
    else:
        text = said("common.admins_only")
    await query.answer(text, show_alert=True)


async def admin_names(session: AsyncSession, workspace: Workspace, limit: int = 5) -> list[str]:
    """Who may act on an admin's button here, by the names the bot knows them by."""
    found = [
        m.name for m in await repo.members(session, workspace.id) if m.role.is_admin and m.name
    ]
    return found[:limit] + (["…"] if len(found) > limit else [])


async def refuse_non_admin_message(message: Message, _: Translator) -> None:
    await message.reply(_("common.admins_only"))


def refusing(key: str) -> Callable[[CallbackQuery, Translator], Awaitable[None]]:
    """A refusal router's handler for a button, for a concern that words it its own way."""

    async def refuse(query: CallbackQuery, _: Translator) -> None:
        await query.answer(_(key), show_alert=True)

    return refuse


def refusing_message(key: str) -> Callable[[Message, Translator], Awaitable[None]]:
    """A refusal router's handler for a command, for a concern that words it its own way."""

    async def refuse(message: Message, _: Translator) -> None:
        await message.reply(_(key))

    return refuse


async def refuse_foreign(
    query: CallbackQuery,
    session: AsyncSession,
    _: Translator,
    workspace: Workspace | None = None,
    callback_data: Any = None,
) -> None:
    """A button names a recording this workspace does not have: say so, and keep a trace."""
    rec = getattr(callback_data, "rec", None)
    user_id = query.from_user.id if query.from_user else None
    log.warning(
        "refused %s for recording %s from user %s in workspace %s",
        query.data,
        rec,
        user_id,
        workspace.id if workspace else None,
    )
    if workspace is not None:
        await repo.audit(
            session, workspace.id, user_id, "refused_foreign", f"recording:{rec}", data=query.data
        )
    await query.answer(_("recs.not_found"), show_alert=True)


class OwnTemplate(Filter):
    """The callback names a template of this chat's workspace; hands it over as `template`."""

    async def __call__(
        self,
        event: TelegramObject,
        session: AsyncSession,
        workspace: Workspace | None = None,
        callback_data: Any = None,
    ) -> bool | dict[str, Any]:
        tpl = getattr(callback_data, "tpl", None)
        if workspace is None or not isinstance(tpl, int):
            return False
        for row in await repo.templates(session, workspace.id):
            if row.id == tpl:
                return {"template": row}
        return False
