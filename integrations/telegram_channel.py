"""A Telegram channel as a place to publish: find it, check the bot may post, post the video.

The bot posts as itself, so the channel needs no token of ours: only the bot's membership as
an administrator with the right to post. That right alone would let anyone connect any channel
the bot already serves, so the person connecting it must run it too: be its creator or an
administrator who may post. `check_channel` tells the ways that goes wrong apart (no such
channel, not a channel, the bot may not post, the person may not), so the person can fix the
right thing.

Captions are HTML (the bot's default parse mode); their length limit counts the text a reader
sees, in UTF-16 code units, which `caption` respects by dropping whole chapter lines.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.types import FSInputFile, Message

from pipeline.timecodes import Chapter, format_tc


def _esc(text: str) -> str:
    # Text between tags only: quotes stay as typed.
    return html.escape(text, quote=False)


CAPTION_LIMIT = 1024

_USERNAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{3,31}$")
_LINK = re.compile(r"^(?:https?://)?(?:t\.me|telegram\.me)/(?:s/)?([A-Za-z][A-Za-z0-9_]{3,31})/?")


class ChannelError(Exception):
    """`code`: ``not_found``, ``not_channel``, ``not_admin``, ``cannot_post`` or ``not_yours``."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class ChannelInfo:
    chat_id: int
    title: str
    username: str | None


def parse_channel_ref(text: str) -> int | str | None:
    """What a person typed to name a channel: ``@name``, a t.me link, or a -100… id."""
    value = text.strip()
    if re.fullmatch(r"-100\d{5,}", value):
        return int(value)
    if value.startswith("@") and _USERNAME.match(value[1:]):
        return value
    match = _LINK.match(value)
    if match and match.group(1).lower() not in {"joinchat", "c", "addlist", "share"}:
        return f"@{match.group(1)}"
    return None


async def check_channel(bot: Bot, ref: int | str, *, person: int) -> ChannelInfo:
    """The channel `ref` names, once it is sure the bot and `person` (a user id) may post there."""
    try:
        chat = await bot.get_chat(ref)
    except TelegramForbiddenError as exc:
        raise ChannelError("not_admin", exc.message) from None
    except TelegramBadRequest as exc:
        raise ChannelError("not_found", exc.message) from None
    if chat.type != "channel":
        raise ChannelError("not_channel", chat.type)
    me = await bot.me()
    standing = await _standing(bot, chat.id, me.id)
    if standing == "admin":
        raise ChannelError("cannot_post")
    if standing != "posts":
        raise ChannelError("not_admin", standing)
    # Asked only once the bot is an administrator: Telegram lists a channel's members to
    # its administrators alone.
    if await _standing(bot, chat.id, person) != "posts":
        raise ChannelError("not_yours")
    return ChannelInfo(chat_id=chat.id, title=chat.title or "", username=chat.username)


async def _standing(bot: Bot, chat_id: int, user_id: int) -> str:
    """``posts`` (the creator, or an administrator who may post), ``admin`` or ``none``."""
    try:
        member = await bot.get_chat_member(chat_id, user_id)
    except (TelegramBadRequest, TelegramForbiddenError):
        return "none"
    if member.status == "creator":
        return "posts"
    if member.status != "administrator":
        return "none"
    # Telegram names this right for channels only; an absent flag is not a refusal.
    return "admin" if getattr(member, "can_post_messages", None) is False else "posts"


def post_link(chat_id: int, username: str | None, message_id: int) -> str:
    """The t.me address of a channel post; private channels use the /c/ form."""
    if username:
        return f"https://t.me/{username}/{message_id}"
    internal = str(abs(chat_id))
    internal = internal[3:] if internal.startswith("100") else internal
    return f"https://t.me/c/{internal}/{message_id}"


def caption(title: str, chapters: list[Chapter], *, limit: int = CAPTION_LIMIT) -> str:
    """Title in bold, then as many chapter lines as fit; "…" marks chapters left out."""
    head = title.strip() or "…"
    if _units(head) > limit:
        head = _cut(head, limit - 1) + "…"
    lines = [f"{format_tc(c.start)} {c.title}" for c in chapters]
    kept: list[str] = []
    used = _units(head) + (2 if lines else 0)
    for i, line in enumerate(lines):
        cost = _units(line) + (1 if kept else 0)
        rest_needs = 0 if i == len(lines) - 1 else 2  # "\n…" after a cut
        if used + cost + rest_needs > limit:
            if kept or used + 1 <= limit:
                kept.append("…")
            break
        kept.append(line)
        used += cost
    text = f"<b>{_esc(head)}</b>"
    if kept:
        text += "\n\n" + "\n".join(_esc(line) for line in kept)
    return text


async def post_video(
    bot: Bot,
    chat_id: int,
    video: Path,
    text: str,
    *,
    duration: int | None = None,
    width: int | None = None,
    height: int | None = None,
    timeout: int = 600,
) -> Message:
    """Post the video with `text` as its caption; returns the channel's message."""
    extra: dict[str, Any] = {}
    if duration:
        extra["duration"] = duration
    if width and height:
        extra["width"], extra["height"] = width, height
    return await bot.send_video(
        chat_id,
        FSInputFile(video, filename="video.mp4"),
        caption=text,
        supports_streaming=True,
        request_timeout=timeout,
        **extra,
    )


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _cut(text: str, units: int) -> str:
    while _units(text) > units:
        text = text[:-1]
    return text
