"""Per-update context: throttling, a database session, the workspace and role, the language."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramAPIError
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import CallbackQuery, Chat, Message, TelegramObject, User
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.ratelimit import TokenBucket
from locales import Translator, choose_language, gettext
from storage import repo
from storage.models import Member, Role, Workspace, WorkspaceKind

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class ThrottlingMiddleware(BaseMiddleware):
    """Drops updates from a user who floods, and says so once in a while, not per message."""

    def __init__(self, redis: Redis, *, rate: float, burst: int, notice_every: int = 10) -> None:
        self.redis = redis
        self.bucket = TokenBucket(redis, "leap:throttle:user", rate=rate, burst=burst)
        self.notice_every = notice_every

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None or await self.bucket.take(user.id):
            return await handler(event, data)
        first = await self.redis.set(
            f"leap:throttle:notice:{user.id}", 1, nx=True, ex=self.notice_every
        )
        text = gettext(choose_language(user.language_code), "intake.throttled")
        if isinstance(event, CallbackQuery):
            await event.answer(text)
        elif isinstance(event, Message) and first:
            await event.answer(text)
        return None


_update_session: ContextVar[AsyncSession | None] = ContextVar("update_session", default=None)

# Calls that show the user something; anything they then do must see what led to it.
_ANSWERS = ("send", "edit", "answer", "copy", "forward", "delete")


class DbSessionMiddleware(BaseMiddleware):
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        async with self.sessions() as session:
            data["session"] = session
            token = _update_session.set(session)
            try:
                result = await handler(event, data)
                await session.commit()
                return result
            finally:
                _update_session.reset(token)


class CommitBeforeAnswer(BaseRequestMiddleware):
    """Saves the update's changes before the bot answers it.

    Updates are handled concurrently, so a person who reacts to an answer at once would
    otherwise race the commit that follows it (and read the state from before).
    """

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        session = _update_session.get()
        name = type(method).__name__.lower()
        if session is not None and session.in_transaction() and name.startswith(_ANSWERS):
            await session.commit()
        return await make_request(bot, method)


class WorkspaceMiddleware(BaseMiddleware):
    """Resolves the chat's workspace, the sender's member row and role, and the language."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        chat: Chat | None = data.get("event_chat")
        user: User | None = data.get("event_from_user")
        session: AsyncSession = data["session"]
        if chat is None or user is None or chat.type == ChatType.CHANNEL:
            data["_"] = Translator(choose_language(user.language_code if user else None))
            return await handler(event, data)

        group = chat.type in (ChatType.GROUP, ChatType.SUPERGROUP)
        workspace, _created = await repo.ensure_workspace(
            session,
            chat.id,
            WorkspaceKind.GROUP if group else WorkspaceKind.PERSONAL,
            chat.title or chat.full_name or "",
        )
        member = await repo.get_member(session, workspace.id, user.id)
        if member is None:
            role = await telegram_role(data["bot"], chat.id, user.id) if group else Role.OWNER
            member = await repo.upsert_member(
                session, workspace.id, user.id, role=role, name=user.full_name
            )
        data["workspace"] = workspace
        data["member"] = member
        data["role"] = member.role
        lang = language_for(workspace, member, user)
        data["lang"] = lang
        data["_"] = Translator(lang)
        return await handler(event, data)


def language_for(workspace: Workspace, member: Member, user: User) -> str:
    if workspace.kind is WorkspaceKind.GROUP and workspace.language:
        return workspace.language
    return member.language or workspace.language or choose_language(user.language_code)


async def telegram_role(bot: Bot, chat_id: int, user_id: int) -> Role:
    """The role Telegram gives this user in the group: its creator owns, its admins administer."""
    try:
        member = await bot.get_chat_member(chat_id, user_id)
    except TelegramAPIError as exc:
        log.warning("cannot read chat member status: %s", exc.message)
        return Role.MEMBER
    status = getattr(member, "status", "member")
    if status == "creator":
        return Role.OWNER
    if status == "administrator":
        return Role.ADMIN
    return Role.MEMBER
