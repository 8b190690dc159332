"""What the bot asked a person and waits for: one store for every prompt in every chat.

The rules every prompt keeps, whoever opens it (a title to rename, a topic list, a template's
field, the Telegram channel to connect, the VK community, Zoom credentials):

- A conversation belongs to one person in one chat: Redis keeps a hash per (chat, person),
  one field per open prompt (keyed by the prompt message's id) and `last`, the newest
  prompt with the time it was asked.
- The newest prompt wins: a plain message answers only the newest one (in a private chat,
  and only while it is fresh; hours later a message is something new). A reply to a prompt
  message answers that prompt, however old, as long as it is open.
- In a group only replies answer (everything else is the group talking), except what the
  prompt recognises as its answer on sight: a post forwarded from a channel, a channel's
  @username (Telegram does not let a forward be a reply).
- `/cancel` ends every prompt of that person in that chat, and prompts opened there that
  wait for the answer in the person's private chat (Zoom credentials).
- Every prompt says how to leave it (`/cancel`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiogram import Bot
from aiogram.filters import Filter
from aiogram.types import Message
from aiogram.utils.text_decorations import html_decoration
from redis.asyncio import Redis

from jobs import keys
from locales import Translator

ASK_TTL = 24 * 3600
# A plain message in a private chat answers only a prompt this fresh; a reply always works.
FRESH_SECONDS = 15 * 60
_LAST = "last"


@dataclass(frozen=True)
class Ask:
    """What a prompt waits for: its kind, the recording (or template) and any earlier steps."""

    kind: str
    rec: int = 0
    idx: int = -1
    data: dict[str, Any] = field(default_factory=dict)
    prompt: int = 0

    def dump(self) -> str:
        return json.dumps(
            {"kind": self.kind, "rec": self.rec, "idx": self.idx, "data": self.data},
            ensure_ascii=False,
        )

    @classmethod
    def load(cls, raw: str | bytes, prompt: int) -> Ask:
        value = json.loads(raw)
        return cls(
            kind=str(value["kind"]),
            rec=int(value.get("rec", 0)),
            idx=int(value.get("idx", -1)),
            data=dict(value.get("data") or {}),
            prompt=prompt,
        )


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value


class Conversations:
    """The open prompts of every person in every chat (see the module)."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    @staticmethod
    def _key(chat_id: int, user_id: int) -> str:
        return keys.conversation(chat_id, user_id)

    async def open(self, chat_id: int, user_id: int, prompt_id: int, ask: Ask) -> None:
        """Remember `ask` under its prompt message; it becomes the newest prompt."""
        key = self._key(chat_id, user_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, str(prompt_id), ask.dump())
            pipe.hset(key, _LAST, f"{prompt_id}:{time.time():.0f}")
            pipe.expire(key, ASK_TTL)
            await pipe.execute()

    async def get(self, chat_id: int, user_id: int, prompt_id: int | None) -> Ask | None:
        """The prompt `prompt_id` answers, or with None the newest while it is fresh."""
        key = self._key(chat_id, user_id)
        if prompt_id is None:
            latest, _, since = _text(await self.redis.hget(key, _LAST)).partition(":")
            if not latest or time.time() - float(since or 0) > FRESH_SECONDS:
                return None
            prompt_id = int(latest)
        raw = await self.redis.hget(key, str(prompt_id))
        return None if raw is None else Ask.load(raw, prompt_id)

    async def close(self, chat_id: int, user_id: int, prompt_id: int) -> None:
        """The prompt is answered (or given up): it no longer takes messages."""
        key = self._key(chat_id, user_id)
        await self.redis.hdel(key, str(prompt_id))
        latest = _text(await self.redis.hget(key, _LAST)).partition(":")[0]
        if latest == str(prompt_id):
            await self.redis.hdel(key, _LAST)

    async def close_kind(self, chat_id: int, user_id: int, *kinds: str) -> None:
        """Every open prompt of these kinds, answered together (one connection, one wait)."""
        for ask in await self.all(chat_id, user_id):
            if ask.kind in kinds:
                await self.close(chat_id, user_id, ask.prompt)

    async def all(self, chat_id: int, user_id: int) -> list[Ask]:
        found = await self.redis.hgetall(self._key(chat_id, user_id))
        asks = []
        for name, raw in found.items():
            prompt = _text(name)
            if prompt != _LAST:
                asks.append(Ask.load(raw, int(prompt)))
        return asks

    async def cancel(self, chat_id: int, user_id: int) -> list[Ask]:
        """End the person's prompts in this chat, and the private ones opened from it."""
        ended = await self.all(chat_id, user_id)
        await self.redis.delete(self._key(chat_id, user_id))
        if chat_id != user_id:
            for ask in await self.all(user_id, user_id):
                if ask.data.get("origin") == chat_id:
                    await self.close(user_id, user_id, ask.prompt)
                    ended.append(ask)
        return ended


class Answering(Filter):
    """A message that answers one of the bot's open prompts of the given kinds.

    A reply to a prompt answers that prompt. Otherwise the newest fresh prompt is answered
    by a plain text in a private chat (not a link on its own: that is a new recording), and
    by whatever `unprompted` recognises as an answer anywhere (an @username or a t.me link
    for a channel; in a group nothing else is taken, the group is talking). Forwarded posts
    answer only `forwards` kinds. The answered prompt is handed over as `ask`.
    """

    def __init__(
        self,
        *kinds: str,
        forwards: tuple[str, ...] = (),
        unprompted: Callable[[Message], bool] | None = None,
    ) -> None:
        self.kinds = frozenset(kinds) | frozenset(forwards)
        self.forwards = frozenset(forwards)
        self.unprompted = unprompted

    async def __call__(self, message: Message, bot: Bot, arq: Redis) -> bool | dict[str, Any]:
        if message.from_user is None:
            return False
        forwarded = message.forward_origin is not None
        if forwarded and not self.forwards:
            return False
        if not forwarded and (not message.text or message.text.startswith("/")):
            return False
        conversations = Conversations(arq)
        replied = message.reply_to_message
        if replied is not None and replied.from_user is not None:
            me = await bot.me()
            if replied.from_user.id != me.id:
                return False
            ask = await conversations.get(message.chat.id, message.from_user.id, replied.message_id)
        else:
            recognised = self.unprompted is not None and self.unprompted(message)
            if message.chat.type == "private":
                if not forwarded and not recognised and starts_with_link(message):
                    return False
            elif not recognised:
                return False
            ask = await conversations.get(message.chat.id, message.from_user.id, None)
        if ask is None or ask.kind not in self.kinds:
            return False
        if forwarded and ask.kind not in self.forwards:
            return False
        return {"ask": ask}


def starts_with_link(message: Message) -> bool:
    """The text opens with a web address, typed with its scheme or marked by Telegram."""
    text = message.text or ""
    body = text.lstrip()
    if body.lower().startswith(("http://", "https://")):
        return True
    # An address without its scheme (youtu.be/…): Telegram's entity offsets count UTF-16 units.
    start = len(text[: len(text) - len(body)].encode("utf-16-le")) // 2
    return any(entity.type == "url" and entity.offset == start for entity in message.entities or [])


def with_way_out(_: Translator, text: str) -> str:
    """A prompt's text with the line that says how to leave it."""
    return f"{text}\n\n{_('common.cancel_hint')}"


async def open_prompt(
    anchor: Message,
    user_id: int,
    user_name: str,
    text: str,
    ask: Ask,
    redis: Redis,
    _: Translator,
) -> Message:
    """Ask the person for an answer in this chat, remembered until they answer or /cancel.

    A plain prompt, not a forced reply: Telegram shows replies to the bot to a bot in privacy
    mode, and a forced reply would pop up for everyone in the group.
    """
    text = with_way_out(_, text)
    if anchor.chat.type != "private":
        # The group sees whom the bot is asking.
        mention = f'<a href="tg://user?id={user_id}">{html_decoration.quote(user_name)}</a>'
        text = f"{mention}\n{text}"
    sent = await anchor.answer(text)
    await Conversations(redis).open(anchor.chat.id, user_id, sent.message_id, ask)
    return sent
