"""The one progress message per recording: coalesced edits that never fail a job."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramNetworkError, TelegramRetryAfter
from redis.asyncio import Redis

log = logging.getLogger(__name__)


class ProgressMessage:
    """Edits one Telegram message, at most once per `interval` seconds.

    Only the newest text matters, so updates arriving faster than the interval replace each
    other and the last one is always sent. The time of the last edit lives in Redis as well,
    so reporters for the same message in different worker processes share the pace.
    """

    def __init__(
        self,
        bot: Bot,
        chat_id: int,
        message_id: int,
        *,
        redis: Redis | None = None,
        interval: float = 3.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.bot = bot
        self.chat_id = chat_id
        self.message_id = message_id
        self.redis = redis
        self.interval = interval
        self.clock = clock
        self._pending: str | None = None
        self._last_sent: str | None = None
        self._next_at = 0.0
        self._task: asyncio.Task[None] | None = None

    @property
    def _key(self) -> str:
        return f"leap:progress:{self.chat_id}:{self.message_id}"

    def update(self, text: str) -> None:
        if text == self._last_sent and self._pending is None:
            return
        self._pending = text
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush())

    async def drain(self, timeout: float | None = None) -> None:
        """Wait until the newest text has been sent (or given up on)."""
        task = self._task
        if task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except TimeoutError:
            log.warning("progress message %s:%s not flushed in time", self.chat_id, self.message_id)

    async def _flush(self) -> None:
        while self._pending is not None:
            wait = max(self._next_at, await self._shared_next_at()) - self.clock()
            if wait > 0:
                await asyncio.sleep(wait)
            text, self._pending = self._pending, None
            if text == self._last_sent:
                continue
            await self._edit(text)

    async def _edit(self, text: str) -> None:
        try:
            await self.bot.edit_message_text(
                text=text, chat_id=self.chat_id, message_id=self.message_id
            )
            self._last_sent = text
        except TelegramRetryAfter as exc:
            # Keep the text unless something newer arrived meanwhile, and try again later.
            if self._pending is None:
                self._pending = text
            self._next_at = self.clock() + exc.retry_after
            await self._share(self._next_at)
            return
        except TelegramBadRequest as exc:
            if "not modified" in exc.message:
                self._last_sent = text
            else:
                log.warning("progress edit refused: %s", exc.message)
        except (TelegramNetworkError, OSError, TimeoutError) as exc:
            log.warning("progress edit failed: %s", type(exc).__name__)
        except Exception:  # a progress message must never take a job down with it
            log.exception("progress edit failed")
        self._next_at = self.clock() + self.interval
        await self._share(self._next_at)

    async def _shared_next_at(self) -> float:
        if self.redis is None:
            return 0.0
        try:
            value = await self.redis.get(self._key)
        except Exception:
            return 0.0
        return float(value) if value else 0.0

    async def _share(self, next_at: float) -> None:
        if self.redis is None:
            return
        try:
            ttl = max(int(next_at - self.clock()) + 2, 2)
            await self.redis.set(self._key, repr(next_at), ex=ttl)
        except Exception:
            log.debug("progress pace not shared", exc_info=True)


class ProgressHub:
    """One reporter per message in this process, so every stage shares its pace."""

    def __init__(self, bot: Bot, redis: Redis | None, interval: float) -> None:
        self.bot = bot
        self.redis = redis
        self.interval = interval
        self._messages: dict[tuple[int, int], ProgressMessage] = {}

    def message(self, chat_id: int, message_id: int) -> ProgressMessage:
        key = (chat_id, message_id)
        reporter = self._messages.get(key)
        if reporter is None:
            reporter = ProgressMessage(
                self.bot, chat_id, message_id, redis=self.redis, interval=self.interval
            )
            self._messages[key] = reporter
        return reporter

    async def finish(self, chat_id: int, message_id: int, timeout: float = 30.0) -> None:
        reporter = self._messages.pop((chat_id, message_id), None)
        if reporter is not None:
            await reporter.drain(timeout)

    async def drain_all(self, timeout: float = 10.0) -> None:
        await asyncio.gather(*(r.drain(timeout) for r in self._messages.values()))
