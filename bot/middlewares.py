"""Per-update context: rate limits, a database session, the workspace and role, the language."""

from __future__ import annotations

import asyncio
import contextlib
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
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import CallbackQuery, Chat, Message, TelegramObject, User
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.filters import is_stale, refresh_member
from bot.ratelimit import Bucket, Buckets, TokenBucket, whole_seconds
from jobs import keys
from leap.settings import Settings
from locales import Translator, choose_language, gettext
from storage import repo
from storage.models import Member, Role, Workspace, WorkspaceKind
from storage.repo import HEARD_LANGUAGE

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class ThrottlingMiddleware(BaseMiddleware):
    """The outer flood guard: drops, without a word, what no polite limit could let through.

    It sits before the database, so a flood costs one Redis call per update and nothing more.
    Its bucket is `GUARD_FACTOR` times one person's own, so anyone inside their limits never
    meets it; the limits people do meet (and are told about) are `RateLimitMiddleware`'s.
    """

    GUARD_FACTOR = 10

    def __init__(self, redis: Redis, *, rate: float, burst: int) -> None:
        self.bucket = TokenBucket(
            redis,
            keys.THROTTLE_GUARD,
            rate=rate * self.GUARD_FACTOR,
            burst=burst * self.GUARD_FACTOR,
        )

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None or await self.bucket.take(user.id):
            return await handler(event, data)
        log.info("flood from user %s dropped", user.id)
        return None


# The shortest time between two notices about one limit, however fast the bucket refills.
NOTICE_MIN_SECONDS = 10.0


class RateLimitMiddleware(BaseMiddleware):
    """Limits per person and per chat, on the updates a handler takes.

    An inner middleware: chatter in a group that no handler wants costs nobody anything, and
    the workspace and language are known when the polite answer is written. The person's
    buckets are checked with the chat's in one step, so a person over their limit uses
    nothing of the chat's, and others in the chat (and every other chat) go on as before.
    """

    def __init__(self) -> None:
        self._buckets: dict[int, Buckets] = {}

    def buckets(self, redis: Redis) -> Buckets:
        found = self._buckets.get(id(redis))
        if found is None:
            found = self._buckets[id(redis)] = Buckets(redis)
        return found

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        redis: Redis | None = data.get("arq")
        settings: Settings | None = data.get("settings")
        if user is None or redis is None or settings is None:
            return await handler(event, data)
        workspace: Workspace | None = data.get("workspace")
        limits = [
            Bucket(
                keys.rate_user(user.id, "short"), settings.throttle_rate, settings.throttle_burst
            ),
            Bucket.per(keys.rate_user(user.id, "hour"), settings.rate_user_per_hour, 3600),
        ]
        if workspace is not None:
            limits += [
                Bucket.per(
                    keys.rate_workspace(workspace.id, "minute"),
                    settings.rate_workspace_per_minute,
                    60,
                ),
                Bucket.per(
                    keys.rate_workspace(workspace.id, "hour"),
                    settings.rate_workspace_per_hour,
                    3600,
                ),
            ]
        verdict = await self.buckets(redis).take(*limits)
        if verdict.allowed:
            return await handler(event, data)
        refused = verdict.refused_by
        assert refused is not None
        which = limits.index(refused)
        log.info("rate limit %s reached by user %s", refused.key, user.id)
        quiet = max(refused.window, verdict.wait, NOTICE_MIN_SECONDS)
        first = await redis.set(f"{refused.key}:told", 1, nx=True, ex=whole_seconds(quiet))
        text = _limit_notice(which, refused, verdict.wait, user, data)
        if isinstance(event, CallbackQuery):
            # A pressed button waits for an answer; a short one costs the chat nothing.
            await event.answer(text if first else None)
        elif isinstance(event, Message) and first:
            await event.reply(text)
        return None


def _limit_notice(which: int, bucket: Bucket, wait: float, user: User, data: dict[str, Any]) -> str:
    member: Member | None = data.get("member")
    # The person's own limits are told in their language; the chat's in the chat's.
    if which < 2:
        lang = (member.language if member else None) or choose_language(user.language_code)
    else:
        lang = str(data.get("lang") or choose_language(user.language_code))
    minutes = max(round(wait / 60), 1)
    limit = round(bucket.burst)
    key = ("ratelimit.user", "ratelimit.user_hour", "ratelimit.chat", "ratelimit.chat_hour")[which]
    return gettext(lang, key, limit=limit, minutes=minutes)


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
    """Resolves the chat's workspace, the sender's member row and role, and the language.

    In a group the role is read from Telegram when the member is new to the bot or was last
    confirmed longer ago than `role_refresh_hours`; chat_member updates keep it current in
    between (see handlers/groups.py).
    """

    def __init__(self) -> None:
        # One update at a time makes a chat's first rows (see _first_contact).
        self._first_contacts = asyncio.Lock()

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        chat: Chat | None = data.get("event_chat")
        user: User | None = data.get("event_from_user")
        session: AsyncSession = data["session"]
        if chat is None or user is None or chat.type == ChatType.CHANNEL:
            data["_"] = Translator(choose_language(user.language_code if user else None))
            return await handler(event, data)

        group = chat.type in (ChatType.GROUP, ChatType.SUPERGROUP)
        title = (chat.title or chat.full_name or "")[:255]
        workspace = await repo.workspace_by_chat(session, chat.id)
        member = await repo.get_member(session, workspace.id, user.id) if workspace else None
        if workspace is None or (member is None and not group):
            workspace, member = await self._first_contact(session, chat.id, user, group, title)
        elif title and workspace.title != title:
            workspace.title = title
        settings: Settings | None = data.get("settings")
        hours = settings.role_refresh_hours if settings is not None else 24.0
        if group and (member is None or is_stale(member, hours)):
            member = await refresh_member(data["bot"], session, workspace, user)
            await session.commit()
        assert member is not None
        if user.full_name and member.name != user.full_name[:255]:
            # Names are shown in /roles and /audit; people rename themselves.
            member.name = user.full_name[:255]
        data["workspace"] = workspace
        data["member"] = member
        data["role"] = member.role
        lang = language_for(workspace, member, user)
        heard = (workspace.settings or {}).get(HEARD_LANGUAGE)
        if not workspace.language and heard != lang and not (group and heard):
            # What the workers write here unasked (a Zoom import, a cleanup notice) follows
            # the language the chat was spoken to in: a person's own chat follows them, a
            # group keeps the first (its people may speak several). Rare, and committed at
            # once: the row stays locked until then.
            await repo.update_workspace_settings(
                session, workspace, lambda stored: stored.update({HEARD_LANGUAGE: lang})
            )
            await session.commit()
        data["lang"] = lang
        data["_"] = Translator(lang)
        # What only the sender sees (a button's alert) is in their own language, also in a
        # group that speaks another.
        data["own"] = Translator(member.language or choose_language(user.language_code))
        return await handler(event, data)

    async def _first_contact(
        self, session: AsyncSession, chat_id: int, user: User, group: bool, title: str
    ) -> tuple[Workspace, Member | None]:
        """The chat's workspace (and in a private chat its owner), made if new, and saved.

        Committed at once, so that no write lock is held over Redis and Telegram calls. On
        SQLite they are also made one at a time: its single write lock, contended by a burst
        of new chats, queues them in a sleeping busy handler for seconds. A group's members
        are read from Telegram later.
        """
        sqlite = session.get_bind().dialect.name == "sqlite"
        async with self._first_contacts if sqlite else contextlib.nullcontext():
            # A fresh snapshot: the update before ours may have just made these rows.
            await session.commit()
            kind = WorkspaceKind.GROUP if group else WorkspaceKind.PERSONAL
            workspace, _created = await repo.ensure_workspace(session, chat_id, kind, title)
            member = await repo.get_member(session, workspace.id, user.id)
            if member is None and not group:
                member = await repo.add_member(
                    session, workspace.id, user.id, role=Role.OWNER, name=user.full_name
                )
            await session.commit()
        return workspace, member


def language_for(workspace: Workspace, member: Member, user: User) -> str:
    if workspace.kind is WorkspaceKind.GROUP and workspace.language:
        return workspace.language
    return member.language or workspace.language or choose_language(user.language_code)
