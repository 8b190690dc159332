"""The one progress message per recording: coalesced edits that never fail or slow a job.

Every edit of a message the workers keep up to date (the progress message, the review card
while it publishes) goes through here, so one pace holds for all of them:

- at most one edit per `interval` seconds per message, shared between processes through Redis
  (`jobs.keys.progress`); no other module paces an edit;
- only the newest text matters: updates arriving faster than the pace replace each other and
  the last one always lands;
- Telegram's flood control answers edits with 429 and a `retry_after` that can reach minutes.
  Running updates wait for it in the background; a job that has finished with a message never
  waits for Telegram: its last text is handed to a background flush that lands it when
  allowed, unless a newer reporter of the same message speaks first;
- a message's last word with its buttons (`settle`, `paced_edit`) waits its turn after every
  other reporter's, sits out a short flood-control wait and drops the edit past
  `MAX_SETTLE_WAIT`, leaving the message as it was;
- "message is not modified" is not an error, and a failed edit never fails a job.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramNetworkError,
    TelegramRetryAfter,
)
from aiogram.types import InlineKeyboardMarkup
from redis.asyncio import Redis

from jobs import keys

log = logging.getLogger(__name__)

# The longest flood-control wait a message's last word sits out; past it the edit is dropped.
# Not worth holding a stage or an answer for: the message keeps its last text and /recordings
# shows where the recording stands.
MAX_SETTLE_WAIT = 30.0


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
        return keys.progress(self.chat_id, self.message_id)

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
        retry_after = await self._send(text)
        if retry_after is not None:
            # Keep the text unless something newer arrived meanwhile, and try again later.
            if self._pending is None:
                self._pending = text
            self._next_at = self.clock() + retry_after
        else:
            self._next_at = self.clock() + self.interval
        await self._share(self._next_at)

    async def settle(self, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
        """The message's last word, with its buttons: one edit, awaited, in its turn.

        Waits until the message's next allowed edit; if another reporter edited meanwhile,
        waits for that turn to pass too, so no reporter's last text lands on top of this one.
        Flood control is sat out up to `MAX_SETTLE_WAIT` (three tries at most); a longer wait
        drops the edit.
        """
        self.abandon()
        await self._wait_turn()
        for _ in range(3):
            retry_after = await self._send(text, markup)
            if retry_after is None:
                break
            if retry_after > MAX_SETTLE_WAIT:
                log.warning("progress edit dropped: Telegram asks to wait %s s", retry_after)
                break
            await asyncio.sleep(retry_after)
        self._next_at = self.clock() + self.interval
        await self._share(self._next_at)

    async def _wait_turn(self) -> None:
        for _ in range(10):
            next_at = max(self._next_at, await self._shared_next_at())
            wait = next_at - self.clock()
            if wait <= 0:
                return
            await asyncio.sleep(wait + 0.2)
            if await self._shared_next_at() == next_at:
                return

    async def _send(self, text: str, markup: InlineKeyboardMarkup | None = None) -> float | None:
        """One edit; Telegram's `retry_after` when flood control refused it, else None."""
        try:
            await self.bot.edit_message_text(
                text=text, chat_id=self.chat_id, message_id=self.message_id, reply_markup=markup
            )
            self._last_sent = text
        except TelegramRetryAfter as exc:
            return float(exc.retry_after)
        except TelegramBadRequest as exc:
            if "not modified" in exc.message:
                self._last_sent = text
            else:
                log.warning("progress edit refused: %s", exc.message)
        except (TelegramNetworkError, OSError, TimeoutError) as exc:
            log.warning("progress edit failed: %s", type(exc).__name__)
        except TelegramAPIError as exc:
            log.warning("progress edit failed: %s", exc.message)
        except Exception:  # a progress message must never take a job down with it
            log.exception("progress edit failed")
        return None

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

    async def settle(
        self, chat_id: int, message_id: int, text: str, markup: InlineKeyboardMarkup | None
    ) -> None:
        """The message's last word, with its buttons, after what this process still has to say.

        The reporter's last text lands first (as far as `finish` waits for it); one left to a
        background flush under flood control is older than this word and is dropped.
        """
        key = (chat_id, message_id)
        await self.finish(chat_id, message_id)
        leaving = self._leaving.pop(key, None)
        if leaving is not None:
            leaving.abandon()
        await paced_edit(self.bot, self.redis, chat_id, message_id, text, markup, self.interval)

    def _forget_leaving(self, key: tuple[int, int], reporter: ProgressMessage) -> None:
        if self._leaving.get(key) is reporter:
            del self._leaving[key]

    async def drain_all(self, timeout: float = 10.0) -> None:
        reporters = [*self._messages.values(), *self._leaving.values()]
        await asyncio.gather(*(r.drain(timeout) for r in reporters))


async def paced_edit(
    bot: Bot,
    redis: Redis | None,
    chat_id: int,
    message_id: int,
    text: str,
    markup: InlineKeyboardMarkup | None,
    interval: float,
) -> None:
    """A message's last word with its buttons (`ProgressMessage.settle`), from any process: the
    bot uses it when a person's action ends what the workers were reporting."""
    reporter = ProgressMessage(bot, chat_id, message_id, redis=redis, interval=interval)
    await reporter.settle(text, markup)
