"""The one progress message per recording: coalesced edits that never fail or slow a job.

Telegram's flood control answers edits with 429 and a `retry_after` that can reach minutes.
Edits wait for it in the background; a job that has finished with a message never waits for
Telegram: the last text is handed to a background flush that lands it when allowed, unless a
newer reporter of the same message speaks first.
"""

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

    @property
    def idle(self) -> bool:
        return self._task is None or self._task.done()

    def wait_needed(self) -> float:
        """Seconds until this reporter may edit again (0 when it may now)."""
        return max(self._next_at - self.clock(), 0.0)

    def when_done(self, callback: Callable[[], None]) -> None:
        """Call `callback` once the flush in progress ends (at once when there is none)."""
        if self._task is None or self._task.done():
            callback()
        else:
            self._task.add_done_callback(lambda _: callback())

    def abandon(self) -> None:
        """Drop what is still to be sent: a newer reporter of this message has taken over."""
        self._pending = None
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def drain(self, timeout: float | None = None) -> None:
        """Wait until the newest text has been sent (or given up on)."""
        task = self._task
        if task is None:
            return
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(task)
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
        # Finished reporters whose last text still waits for Telegram.
        self._leaving: dict[tuple[int, int], ProgressMessage] = {}

    def message(self, chat_id: int, message_id: int) -> ProgressMessage:
        key = (chat_id, message_id)
        reporter = self._messages.get(key)
        if reporter is None:
            leaving = self._leaving.pop(key, None)
            if leaving is not None:
                # Its text is older than anything the new reporter will say.
                leaving.abandon()
            reporter = ProgressMessage(
                self.bot, chat_id, message_id, redis=self.redis, interval=self.interval
            )
            self._messages[key] = reporter
        return reporter

    async def finish(self, chat_id: int, message_id: int, timeout: float = 30.0) -> None:
        """Let the message's last text land; wait for it only while Telegram allows edits.

        Under flood control (a `retry_after` longer than the pace) the text is left to a
        background flush, so the job goes on instead of waiting for Telegram.
        """
        key = (chat_id, message_id)
        reporter = self._messages.pop(key, None)
        if reporter is None or reporter.idle:
            return
        if reporter.wait_needed() <= self.interval + 1.0:
            await reporter.drain(min(timeout, self.interval + 10.0))
        if not reporter.idle:
            self._leaving[key] = reporter
            reporter.when_done(lambda: self._forget_leaving(key, reporter))

    def _forget_leaving(self, key: tuple[int, int], reporter: ProgressMessage) -> None:
        if self._leaving.get(key) is reporter:
            del self._leaving[key]

    async def drain_all(self, timeout: float = 10.0) -> None:
        reporters = [*self._messages.values(), *self._leaving.values()]
        await asyncio.gather(*(r.drain(timeout) for r in reporters))
