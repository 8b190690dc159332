"""A Telegram Bot API server for tests.

`FakeTelegram` listens on 127.0.0.1 and answers the real aiogram `Bot` the way the
Bot API does: form-encoded (or multipart) requests to ``/bot<token>/<method>``,
``{"ok": ..., "result": ...}`` answers, error codes aiogram turns into its
exceptions, long-polled ``getUpdates`` and file downloads from
``/file/bot<token>/<file_path>``.

Tests play the people: ``send_text``, ``send_document``, ``press`` and friends
queue updates for the bot to poll; ``sent``, ``buttons``, ``callback_answers``
and ``calls`` show what the bot did::

    async with FakeTelegram() as telegram:
        bot = Bot(telegram.token, session=AiohttpSession(api=telegram.api()))
        ann = telegram.user(1, "Ann")
        chat = telegram.private_chat(ann)      # Ann has opened the bot
        await telegram.send_text(chat, ann, "/start")
        hello = await telegram.wait_for_message(chat["id"])
        await telegram.press(chat, ann, hello.message_id, hello.buttons[0][1])

The people's actions queue their update without yielding to the event loop, so
``wait_for_message`` called right after one cannot miss the bot's answer.

Deliberate simplifications: privacy mode and the "bot must be an admin to get
chat_member updates" rule are not enforced, inline mode and payments are absent,
and MarkdownV2 text is stored without being parsed.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import itertools
import json
import math
import mimetypes
import re
import secrets
import shutil
import socket
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple, Self, TypeVar

from aiogram.client.telegram import TelegramAPIServer
from aiohttp import web

T = TypeVar("T")

MB = 1024 * 1024
CLOUD_DOWNLOAD_LIMIT = 20 * MB
CLOUD_UPLOAD_LIMIT = 50 * MB
LOCAL_UPLOAD_LIMIT = 2000 * MB
MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA = 64

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"

# Calls that count against a chat's flood limit (see FakeTelegram.limit_rate).
FLOOD_METHODS = frozenset(
    "sendMessage editMessageText editMessageCaption editMessageReplyMarkup sendDocument "
    "sendVideo sendAudio sendPhoto copyMessage forwardMessage".split()
)

# Updates Telegram leaves out unless a bot names them in allowed_updates.
OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

# Parameters whose values are plain strings even when they look like JSON or numbers.
STRING_PARAMS = frozenset(
    "text caption parse_mode callback_query_id file_id url inline_message_id action "
    "language_code title description short_description name secret_token ip_address "
    "custom_title business_connection_id message_effect_id document video audio photo "
    "animation voice thumbnail cover performer question explanation".split()
)


class ApiError(Exception):
    """An answer with ``ok: false``; raised inside method handlers."""

    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(what: str) -> ApiError:
    return ApiError(400, f"Bad Request: {what}")


class MigratedError(ApiError):
    """A write to a group that has become a supergroup; names the chat to write to instead."""

    def __init__(self, new_chat_id: int) -> None:
        super().__init__(400, "Bad Request: group chat was upgraded to a supergroup chat")
        self.new_chat_id = new_chat_id

    def payload(self) -> dict[str, Any]:
        return {**super().payload(), "parameters": {"migrate_to_chat_id": self.new_chat_id}}


@dataclass
class Call:
    """One Bot API request as the server saw it."""

    method: str
    params: dict[str, Any]
    time: float
    error: str | None = None


@dataclass
class StoredFile:
    """A file the server can hand out through getFile and the download route."""

    file_id: str
    file_unique_id: str
    path: Path
    size: int
    file_path: str
    file_name: str | None = None
    mime_type: str | None = None

    @property
    def data(self) -> bytes:
        return self.path.read_bytes()


class Revision(NamedTuple):
    """The text (or caption) a bot message had from ``time`` on."""

    text: str | None
    time: float


@dataclass(eq=False)
class BotMessage:
    """A message the bot sent, kept current through edits and deletion."""

    message_id: int
    chat_id: int
    thread_id: int | None
    text: str | None
    caption: str | None
    parse_mode: str | None
    reply_markup: dict[str, Any] | None
    reply_to_message_id: int | None
    seq: int
    date: int
    sent_at: float
    history: list[Revision] = field(default_factory=list)
    entities: list[dict[str, Any]] | None = None
    document: StoredFile | None = None
    video: StoredFile | None = None
    audio: StoredFile | None = None
    photo: StoredFile | None = None
    # duration/width/height/title/performer as the bot declared them
    media_meta: dict[str, Any] = field(default_factory=dict)
    forward_origin: dict[str, Any] | None = None
    poll: dict[str, Any] | None = None
    deleted: bool = False
    edit_date: int | None = None

    @property
    def content(self) -> str | None:
        """The text of a text message, the caption of a media message."""
        return self.text if self.text is not None else self.caption

    @property
    def texts(self) -> list[str | None]:
        return [revision.text for revision in self.history]

    @property
    def buttons(self) -> list[tuple[str, str]]:
        return inline_buttons(self.reply_markup)

    @property
    def file(self) -> StoredFile | None:
        return self.document or self.video or self.audio or self.photo


def inline_buttons(markup: dict[str, Any] | None) -> list[tuple[str, str]]:
    if not markup:
        return []
    found: list[tuple[str, str]] = []
    for row in markup.get("inline_keyboard", []):
        for button in row:
            target = button.get("callback_data") or button.get("url") or ""
            found.append((button.get("text", ""), target))
    return found


@dataclass
class _Fault:
    error_code: int
    description: str
    retry_after: int | None
    times: int


@dataclass
class Hold:
    """A Bot API call kept waiting until the test lets it go (see FakeTelegram.hold)."""

    method: str
    match: dict[str, Any]
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)

    async def reached(self, timeout: float = 15.0) -> None:
        """Until the held call has arrived at the server."""
        await asyncio.wait_for(self.arrived.wait(), timeout)

    def release(self) -> None:
        self.released.set()


@dataclass
class _CallbackQuery:
    chat_id: int
    message_id: int
    user_id: int
    answered: bool = False


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


# ---------------------------------------------------------------------------
# HTML parse mode: the subset of tags Telegram accepts, with its error wording.

_HTML_ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_START_TAG = re.compile(
    r"<([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z_-]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>]+))?)*)\s*>"
)
_ATTRIBUTE = re.compile(r"([a-zA-Z_-]+)(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s>]+)))?")
_END_TAG = re.compile(r"</([a-zA-Z][a-zA-Z0-9-]*)?\s*>")
_CHAR_REF = re.compile(r"&(#[0-9]+|#[xX][0-9a-fA-F]+|[a-zA-Z]+);")


def parse_html(source: str) -> tuple[str, list[dict[str, Any]]]:
    """Plain text and entities of an HTML-formatted message, or ApiError as Telegram."""

    def fail(why: str) -> ApiError:
        return bad_request(f"can't parse entities: {why}")

    def byte_offset(index: int) -> int:
        return len(source[:index].encode())

    out: list[str] = []
    position = 0  # in UTF-16 code units, as entity offsets are counted
    stack: list[tuple[str, int, dict[str, str]]] = []
    entities: list[dict[str, Any]] = []
    i = 0
    while i < len(source):
        char = source[i]
        if char == "<" and source.startswith("</", i):
            match = _END_TAG.match(source, i)
            if not match:
                raise fail(f"Unclosed end tag at byte offset {byte_offset(i)}")
            if not stack:
                raise fail(f"Unexpected end tag at byte offset {byte_offset(i)}")
            name = (match.group(1) or "").lower()
            tag, start, attrs = stack.pop()
            if name and name != tag:
                raise fail(
                    f'Unmatched end tag at byte offset {byte_offset(i)}, expected "</{tag}>", '
                    f'found "</{name}>"'
                )
            length = position - start
            language = attrs.get("class", "")
            if tag == "code" and stack and stack[-1][0] == "pre":
                # <pre><code class="language-x"> is one pre entity with a language.
                if language.startswith("language-"):
                    stack[-1][2]["language"] = language.removeprefix("language-")
            elif length > 0:
                entity: dict[str, Any] = {
                    "type": _HTML_ENTITY_TYPES[tag],
                    "offset": start,
                    "length": length,
                }
                if tag == "a":
                    entity["url"] = attrs.get("href", "")
                elif tag == "tg-emoji":
                    entity["custom_emoji_id"] = attrs.get("emoji-id", "")
                elif tag == "blockquote" and "expandable" in attrs:
                    entity["type"] = "expandable_blockquote"
                elif tag == "pre" and attrs.get("language"):
                    entity["language"] = attrs["language"]
                entities.append(entity)
            i = match.end()
        elif char == "<":
            match = _START_TAG.match(source, i)
            if not match:
                if i + 1 >= len(source) or not source[i + 1].isalpha():
                    raise fail(f"Empty tag name at byte offset {byte_offset(i)}")
                raise fail(f"Unclosed start tag at byte offset {byte_offset(i)}")
            name = match.group(1).lower()
            if name not in _HTML_ENTITY_TYPES:
                raise fail(f'Unsupported start tag "{name}" at byte offset {byte_offset(i)}')
            attrs = {
                a.group(1).lower(): html.unescape(a.group(2) or a.group(3) or a.group(4) or "")
                for a in _ATTRIBUTE.finditer(match.group(2))
            }
            if name == "span" and attrs.get("class") != "tg-spoiler":
                raise fail(
                    f'Tag "span" must have class "tg-spoiler" at byte offset {byte_offset(i)}'
                )
            stack.append((name, position, attrs))
            i = match.end()
        elif char == "&" and (match := _CHAR_REF.match(source, i)):
            ref = match.group(1)
            decoded: str | None
            if ref.startswith(("#x", "#X")):
                decoded = chr(int(ref[2:], 16))
            elif ref.startswith("#"):
                decoded = chr(int(ref[1:]))
            else:
                decoded = _NAMED_ENTITIES.get(ref)
            if decoded is None:
                # Telegram keeps an entity it does not know as literal text.
                out.append("&")
                position += 1
                i += 1
            else:
                out.append(decoded)
                position += utf16_len(decoded)
                i = match.end()
        else:
            out.append(char)
            position += utf16_len(char)
            i += 1
    if stack:
        raise fail(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


_COMMAND = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![\w/])")
_URL = re.compile(r"https?://[^\s<>\"]+")


def detect_entities(text: str) -> list[dict[str, Any]]:
    """The bot_command and url entities Telegram's clients attach to typed text."""
    found: list[dict[str, Any]] = []
    for pattern, kind in ((_COMMAND, "bot_command"), (_URL, "url")):
        for match in pattern.finditer(text):
            found.append(
                {
                    "type": kind,
                    "offset": utf16_len(text[: match.start()]),
                    "length": utf16_len(match.group(0)),
                }
            )
    found.sort(key=lambda e: e["offset"])
    return found


# ---------------------------------------------------------------------------


class FakeTelegram:
    """An in-process Bot API server plus the people who talk to the bot."""

    def __init__(
        self,
        token: str = "123456:TEST",
        *,
        local_mode: bool = False,
        files_dir: Path | None = None,
        bot_username: str = "leap_test_bot",
    ) -> None:
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.bot_username = bot_username
        self.bot_first_name = "LEAP"
        self.local_mode = local_mode
        # Shrink these in a test to exercise the limits without writing big files.
        self.download_limit = CLOUD_DOWNLOAD_LIMIT
        self.upload_limit = CLOUD_UPLOAD_LIMIT
        self._own_files_dir = files_dir is None
        self.files_dir = files_dir or Path(tempfile.mkdtemp(prefix="fake-telegram-"))
        self.base_url = ""

        self.calls: list[Call] = []
        self.callback_answers: dict[str, dict[str, Any]] = {}
        self.deleted_user_messages: set[tuple[int, int]] = set()
        self.webhook: dict[str, Any] | None = None
        self.webhook_posts: list[tuple[int, int]] = []
        """(update_id, HTTP status) of every update posted to the webhook."""
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.menu_buttons: dict[int | None, dict[str, Any]] = {}
        self.blocked_by: set[int] = set()

        self._users: dict[int, dict[str, Any]] = {}
        self._chats: dict[int, dict[str, Any]] = {}
        self._chat_usernames: dict[str, int] = {}
        self._members: dict[int, dict[int, str]] = {}
        # (channel, administrator) pairs without the channel's right to post.
        self._cannot_post: set[tuple[int, int]] = set()
        self._threads: dict[int, set[int]] = {}
        # Groups that became supergroups: old chat id → new chat id.
        self._migrated: dict[int, int] = {}
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._bot_messages: dict[tuple[int, int], BotMessage] = {}
        self._user_messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._sent: list[BotMessage] = []
        self._seq = itertools.count(1)
        self._file_counter = itertools.count(1)
        self._files: dict[str, StoredFile] = {}
        self._files_by_path: dict[str, StoredFile] = {}
        self._queries: dict[str, _CallbackQuery] = {}
        self._faults: dict[str, list[_Fault]] = {}
        self._holds: list[Hold] = []
        self._late_faults: dict[str, list[_Fault]] = {}
        self._download_faults: list[int] = []
        self._flood_limit: tuple[int, float] | None = None
        self._chat_writes: dict[str, list[float]] = {}

        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 100_000
        self._allowed_updates: set[str] | None = None
        self._updates_changed = asyncio.Event()
        self._poll_generation = 0
        self._closing = False
        self._webhook_task: asyncio.Task[None] | None = None

        self._runner: web.AppRunner | None = None
        self._methods: dict[str, tuple[str, Callable[[dict[str, Any]], Awaitable[Any]]]] = {}
        for name, handler in self._method_table().items():
            self._methods[name.lower()] = (name, handler)

    # -- lifecycle ----------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=LOCAL_UPLOAD_LIMIT + MB)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_download)
        # A dropped long poll must not linger and steal updates from the next one.
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        site = web.SockSite(self._runner, sock)
        await site.start()
        self.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self._closing = False

    async def stop(self) -> None:
        self._closing = True
        for held in self._holds:
            held.release()
        self._wake_pollers()
        await self._stop_webhook_delivery()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._own_files_dir:
            shutil.rmtree(self.files_dir, ignore_errors=True)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- the world ----------------------------------------------------------

    def api(self, *, is_local: bool | None = None) -> TelegramAPIServer:
        """Endpoints for ``AiohttpSession(api=...)``; local-ness follows ``local_mode``."""
        local = self.local_mode if is_local is None else is_local
        return TelegramAPIServer.from_base(self.base_url, is_local=local)

    @property
    def bot_user(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    def user(
        self,
        user_id: int,
        first_name: str = "Ann",
        *,
        language_code: str | None = "en",
        username: str | None = None,
        last_name: str | None = None,
    ) -> dict[str, Any]:
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if last_name is not None:
            user["last_name"] = last_name
        if username is not None:
            user["username"] = username
        if language_code is not None:
            user["language_code"] = language_code
        self._users[user_id] = user
        return dict(user)

    def private_chat(self, user: dict[str, Any]) -> dict[str, Any]:
        chat: dict[str, Any] = {
            "id": user["id"],
            "type": "private",
            "first_name": user["first_name"],
        }
        for key in ("last_name", "username"):
            if key in user:
                chat[key] = user[key]
        self._users.setdefault(user["id"], dict(user))
        self._chats[chat["id"]] = chat
        self._members.setdefault(chat["id"], {})[user["id"]] = "member"
        return dict(chat)

    def group(
        self,
        chat_id: int,
        title: str = "Lectures",
        *,
        forum: bool = False,
        username: str | None = None,
    ) -> dict[str, Any]:
        """A supergroup the bot is a plain member of until told otherwise."""
        chat: dict[str, Any] = {"id": chat_id, "type": "supergroup", "title": title}
        if forum:
            chat["is_forum"] = True
        if username is not None:
            chat["username"] = username
            self._chat_usernames[username.lower()] = chat_id
        self._chats[chat_id] = chat
        self._members.setdefault(chat_id, {}).setdefault(self.bot_id, "member")
        self._threads.setdefault(chat_id, set())
        return dict(chat)

    def basic_group(self, chat_id: int, title: str = "Lectures") -> dict[str, Any]:
        """A basic group (type "group"), what a new group is until Telegram upgrades it."""
        chat: dict[str, Any] = {"id": chat_id, "type": "group", "title": title}
        self._chats[chat_id] = chat
        self._members.setdefault(chat_id, {}).setdefault(self.bot_id, "member")
        return dict(chat)

    async def migrate_to_supergroup(
        self, chat: dict[str, Any], new_id: int, *, by: dict[str, Any]
    ) -> dict[str, Any]:
        """The group becomes a supergroup with a new id, as Telegram does it when `by` turns on
        a supergroup feature: the members (and the bot) move over, the service message with
        migrate_to_chat_id appears in the old chat and the one with migrate_from_chat_id in the
        new, and the old chat refuses messages from then on. Returns the new chat.
        """
        old = self._chats[chat["id"]]
        new: dict[str, Any] = {"id": new_id, "type": "supergroup", "title": old.get("title", "")}
        self._chats[new_id] = new
        self._members[new_id] = dict(self._members.get(chat["id"], {}))
        self._threads.setdefault(new_id, set())
        self._users.setdefault(by["id"], dict(by))
        told = self._user_message(chat, by)
        told["migrate_to_chat_id"] = new_id
        self._queue_update("message", told)
        self._migrated[chat["id"]] = new_id
        moved = self._user_message(new, by)
        moved["migrate_from_chat_id"] = chat["id"]
        self._queue_update("message", moved)
        return dict(new)

    def channel(
        self,
        chat_id: int,
        title: str = "Lectures channel",
        *,
        username: str | None = None,
        creator: int | None = None,
        admins: tuple[int, ...] = (),
        cannot_post: tuple[int, ...] = (),
    ) -> dict[str, Any]:
        """A channel the bot posts to as an administrator.

        `creator` and `admins` run it too; the administrators in `cannot_post` (the bot's id
        included) have the channel's "Post messages" right turned off.
        """
        chat: dict[str, Any] = {"id": chat_id, "type": "channel", "title": title}
        if username is not None:
            chat["username"] = username
            self._chat_usernames[username.lower()] = chat_id
        self._chats[chat_id] = chat
        members = self._members.setdefault(chat_id, {})
        members[self.bot_id] = "administrator"
        for user_id in admins:
            members[user_id] = "administrator"
        if creator is not None:
            members[creator] = "creator"
        self._cannot_post.update((chat_id, user_id) for user_id in cannot_post)
        return dict(chat)

    def create_topic(self, chat: dict[str, Any], thread_id: int | None = None) -> int:
        """Open a forum topic; returns its message_thread_id."""
        if thread_id is None:
            thread_id = self._new_message_id(chat["id"])
        self._threads.setdefault(chat["id"], set()).add(thread_id)
        return thread_id

    def set_admins(
        self,
        chat_id: int,
        user_ids: list[int],
        *,
        creator: int | None = None,
        bot_is_admin: bool = True,
    ) -> None:
        members = self._members.setdefault(chat_id, {})
        for user_id, status in list(members.items()):
            if status in ("administrator", "creator"):
                members[user_id] = "member"
        for user_id in user_ids:
            members[user_id] = "administrator"
        if creator is not None:
            members[creator] = "creator"
        members[self.bot_id] = "administrator" if bot_is_admin else "member"

    def member_status(self, chat_id: int, user_id: int) -> str:
        return self._members.get(chat_id, {}).get(user_id, "left")

    def block_bot(self, user: dict[str, Any]) -> None:
        """The user blocks the bot: sends to their chat answer 403."""
        self.blocked_by.add(user["id"])

    # -- people acting ------------------------------------------------------

    async def send_text(
        self,
        chat: dict[str, Any],
        user: dict[str, Any],
        text: str,
        *,
        reply_to: int | None = None,
        thread_id: int | None = None,
    ) -> dict[str, Any]:
        """The user types ``text``. Queues the update without yielding to the loop."""
        message = self._user_message(chat, user, reply_to=reply_to, thread_id=thread_id)
        message["text"] = text
        if entities := detect_entities(text):
            message["entities"] = entities
        self._queue_update("message", message)
        return message

    async def send_document(
        self,
        chat: dict[str, Any],
        user: dict[str, Any],
        data: bytes | Path,
        *,
        file_name: str,
        mime_type: str,
        caption: str | None = None,
        thread_id: int | None = None,
        file_size: int | None = None,
    ) -> dict[str, Any]:
        """The user sends a file; ``file_size`` overrides the size Telegram reports."""
        return self._send_file(
            chat, user, data, "document", "documents", file_name, mime_type,
            caption=caption, thread_id=thread_id, file_size=file_size,
        )  # fmt: skip

    async def send_video(
        self,
        chat: dict[str, Any],
        user: dict[str, Any],
        data: bytes | Path,
        *,
        file_name: str | None = "video.mp4",
        duration: int = 0,
        width: int = 0,
        height: int = 0,
        mime_type: str = "video/mp4",
        caption: str | None = None,
        thread_id: int | None = None,
        file_size: int | None = None,
    ) -> dict[str, Any]:
        return self._send_file(
            chat, user, data, "video", "videos", file_name, mime_type,
            caption=caption, thread_id=thread_id, file_size=file_size,
            duration=duration, width=width, height=height,
        )  # fmt: skip

    async def send_audio(
        self,
        chat: dict[str, Any],
        user: dict[str, Any],
        data: bytes | Path,
        *,
        file_name: str = "audio.mp3",
        duration: int = 0,
        mime_type: str = "audio/mpeg",
        caption: str | None = None,
        thread_id: int | None = None,
        file_size: int | None = None,
    ) -> dict[str, Any]:
        return self._send_file(
            chat, user, data, "audio", "music", file_name, mime_type,
            caption=caption, thread_id=thread_id, file_size=file_size, duration=duration,
        )  # fmt: skip

    async def send_voice(
        self,
        chat: dict[str, Any],
        user: dict[str, Any],
        data: bytes | Path,
        *,
        duration: int,
        file_size: int | None = None,
    ) -> dict[str, Any]:
        """The user records a voice message: OGG/Opus with a length and no file name."""
        stored = self._store_file(data, "voice", None, "audio/ogg", file_size)
        message = self._user_message(chat, user)
        message["voice"] = {**self._file_json(stored, with_name=False), "duration": duration}
        self._queue_update("message", message)
        return message

    def _send_file(
        self,
        chat: dict[str, Any],
        user: dict[str, Any],
        data: bytes | Path,
        field: str,
        folder: str,
        file_name: str | None,
        mime_type: str,
        *,
        caption: str | None,
        thread_id: int | None,
        file_size: int | None,
        **extra: Any,
    ) -> dict[str, Any]:
        """A message carrying a file as `field` ("document", "video", ...) with `extra` in it."""
        stored = self._store_file(data, folder, file_name, mime_type, file_size)
        message = self._user_message(chat, user, thread_id=thread_id)
        message[field] = {**self._file_json(stored, with_name=True), **extra}
        self._add_caption(message, caption)
        self._queue_update("message", message)
        return message

    async def edit_text(
        self, chat: dict[str, Any], user: dict[str, Any], message_id: int, text: str
    ) -> dict[str, Any]:
        """The user edits a text message they sent (edited_message update)."""
        message = self._user_messages.get((chat["id"], message_id))
        if message is None or message["from"]["id"] != user["id"]:
            raise AssertionError(f"{user['id']} sent no message {message_id} in {chat['id']}")
        message["text"] = text
        message["edit_date"] = int(time.time())
        message.pop("entities", None)
        if entities := detect_entities(text):
            message["entities"] = entities
        self._queue_update("edited_message", dict(message))
        return message

    async def press(
        self,
        chat: dict[str, Any],
        user: dict[str, Any],
        message_id: int,
        callback_data: str,
        *,
        force: bool = False,
    ) -> str:
        """The user presses an inline button; returns the callback query id.

        Pressing a button the message does not offer is a test bug and raises,
        unless ``force`` (a stale or forged press) is given.
        """
        bot_message = self._bot_messages.get((chat["id"], message_id))
        if bot_message is None:
            raise AssertionError(f"no bot message {message_id} in chat {chat['id']}")
        offered = [target for _, target in bot_message.buttons]
        if not force and (bot_message.deleted or callback_data not in offered):
            raise AssertionError(
                f"message {message_id} offers {bot_message.buttons}, not {callback_data!r}"
            )
        query_id = str(secrets.randbits(63))
        self._queries[query_id] = _CallbackQuery(chat["id"], message_id, user["id"])
        self._users.setdefault(user["id"], dict(user))
        query = {
            "id": query_id,
            "from": dict(user),
            "message": self._bot_message_json(bot_message),
            "chat_instance": str(abs(chat["id"]) * 7919),
            "data": callback_data,
        }
        self._queue_update("callback_query", query)
        return query_id

    async def add_bot_to_group(
        self, chat: dict[str, Any], by_user: dict[str, Any], *, as_admin: bool | None = None
    ) -> None:
        """Someone adds the bot; it arrives as a member or, if set_admins said so, an admin."""
        members = self._members.setdefault(chat["id"], {})
        if as_admin is None:
            as_admin = members.get(self.bot_id) == "administrator"
        new = "administrator" if as_admin else "member"
        await self.set_bot_status(chat, by_user, old="left", new=new)

    async def set_bot_status(
        self, chat: dict[str, Any], by_user: dict[str, Any], *, old: str, new: str
    ) -> None:
        """The bot's own membership changes (my_chat_member update)."""
        self._members.setdefault(chat["id"], {})[self.bot_id] = new
        self._users.setdefault(by_user["id"], dict(by_user))
        self._members[chat["id"]].setdefault(by_user["id"], "member")
        self._queue_update(
            "my_chat_member",
            {
                "chat": self._chat_json(chat["id"]),
                "from": dict(by_user),
                "date": int(time.time()),
                "old_chat_member": self._member_json(chat["id"], self.bot_user, old),
                "new_chat_member": self._member_json(chat["id"], self.bot_user, new),
            },
        )

    async def chat_member_changed(
        self,
        chat: dict[str, Any],
        user: dict[str, Any],
        *,
        old: str,
        new: str,
        by: dict[str, Any] | None = None,
    ) -> None:
        """A member's status changes (chat_member update); statuses as in ChatMember."""
        self._users.setdefault(user["id"], dict(user))
        self._members.setdefault(chat["id"], {})[user["id"]] = new
        self._queue_update(
            "chat_member",
            {
                "chat": self._chat_json(chat["id"]),
                "from": dict(by or user),
                "date": int(time.time()),
                "old_chat_member": self._member_json(chat["id"], user, old),
                "new_chat_member": self._member_json(chat["id"], user, new),
            },
        )

    # -- reading what the bot did -------------------------------------------

    def sent(self, chat_id: int, thread_id: int | None = None) -> list[BotMessage]:
        return [
            m
            for m in self._sent
            if m.chat_id == chat_id and (thread_id is None or m.thread_id == thread_id)
        ]

    def last(self, chat_id: int) -> BotMessage:
        messages = self.sent(chat_id)
        if not messages:
            raise AssertionError(f"the bot sent nothing to chat {chat_id}\n{self.dump()}")
        return messages[-1]

    def message(self, chat_id: int, message_id: int) -> BotMessage:
        return self._bot_messages[(chat_id, message_id)]

    def buttons(self, msg: BotMessage) -> list[tuple[str, str]]:
        return msg.buttons

    def calls_of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method.lower() == method.lower()]

    def mark(self) -> int:
        """A marker for ``wait_for_message(after=...)``: messages sent later match."""
        return len(self._sent)

    def file(self, file_id: str) -> StoredFile:
        return self._files[file_id]

    def my_commands(self, scope: str = "default", language_code: str = "") -> list[dict[str, Any]]:
        return self.commands.get((scope, language_code), [])

    @property
    def pending_updates(self) -> int:
        return len(self._updates)

    async def wait_for(self, predicate: Callable[[], T | bool | None], timeout: float = 15.0) -> T:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = predicate()
            if result:
                return result  # type: ignore[return-value]
            if loop.time() >= deadline:
                raise AssertionError(f"condition not met within {timeout} s\n{self.dump()}")
            await asyncio.sleep(0.02)

    async def wait_for_message(
        self,
        chat_id: int,
        predicate: Callable[[BotMessage], bool] = lambda m: True,
        timeout: float = 15.0,
        *,
        after: int | None = None,
    ) -> BotMessage:
        """The first message the bot sends to the chat from now (or from ``after``) that fits."""
        start = self.mark() if after is None else after

        def find() -> BotMessage | None:
            for message in self._sent[start:]:
                if message.chat_id == chat_id and predicate(message):
                    return message
            return None

        return await self.wait_for(find, timeout)

    async def wait_for_answer(self, query_id: str, timeout: float = 15.0) -> dict[str, Any]:
        """The bot's answerCallbackQuery for a press."""
        return await self.wait_for(lambda: self.callback_answers.get(query_id), timeout)

    def dump(self, last: int = 25) -> str:
        lines = ["recent calls:"]
        for call in self.calls[-last:]:
            params = {k: v for k, v in call.params.items() if k != "timeout"}
            error = f" -> {call.error}" if call.error else ""
            lines.append(f"  {call.time:.3f} {call.method} {params}{error}")
        lines.append("recent bot messages:")
        for m in self._sent[-last:]:
            flag = " (deleted)" if m.deleted else ""
            lines.append(
                f"  chat {m.chat_id} #{m.message_id}{flag}: {m.content!r} buttons={m.buttons}"
            )
        lines.append(f"pending updates: {[u['update_id'] for u in self._updates]}")
        return "\n".join(lines)

    # -- faults -------------------------------------------------------------

    def limit_rate(self, max_calls: int, per_seconds: float) -> None:
        """Answer 429 once a chat gets more than ``max_calls`` sends/edits in the window.

        Telegram's real limits are looser and undocumented; this makes a test able to
        check that the bot backs off by retry_after instead of hammering the chat.
        """
        self._flood_limit = (max_calls, per_seconds)

    def _check_flood(self, method: str, params: dict[str, Any]) -> None:
        if self._flood_limit is None or method not in FLOOD_METHODS:
            return
        chat_id = params.get("chat_id")
        if chat_id is None:
            return
        max_calls, window = self._flood_limit
        now = time.monotonic()
        recent = [t for t in self._chat_writes.get(str(chat_id), []) if now - t < window]
        if len(recent) >= max_calls:
            retry_after = max(1, math.ceil(window - (now - recent[0])))
            self._chat_writes[str(chat_id)] = recent
            raise ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after)
        recent.append(now)
        self._chat_writes[str(chat_id)] = recent

    def fail_next(
        self,
        method: str,
        *,
        error_code: int = 429,
        description: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """The next ``times`` calls of ``method`` fail with this error."""
        if error_code == 429 and retry_after is None:
            retry_after = 1
        if description is None:
            description = {
                400: "Bad Request: injected failure",
                403: "Forbidden: bot was blocked by the user",
                429: f"Too Many Requests: retry after {retry_after}",
            }.get(error_code, "Internal Server Error" if error_code >= 500 else "Error")
        self._faults.setdefault(method.lower(), []).append(
            _Fault(error_code, description, retry_after, times)
        )

    def hold(self, method: str, **match: Any) -> Hold:
        """Keep the next call of ``method`` whose parameters include ``match`` waiting.

        The call is answered (as usual) once the test calls ``release()``; ``reached()``
        waits until it has arrived. Lets a test act while the bot is in the middle of
        something, as a slow network would let a person.
        """
        held = Hold(method.lower(), match)
        self._holds.append(held)
        return held

    def fail_after(
        self, method: str, *, error_code: int = 502, description: str | None = None, times: int = 1
    ) -> None:
        """The next ``times`` calls of ``method`` do their work, then answer this error.

        As when Telegram's front end loses the answer: the message is in the chat, and the
        bot hears a failure.
        """
        text = description or ("Bad Gateway" if error_code == 502 else "Internal Server Error")
        self._late_faults.setdefault(method.lower(), []).append(
            _Fault(error_code, text, None, times)
        )

    def fail_download(self, *, status: int = 502, times: int = 1) -> None:
        """The next ``times`` file downloads are answered with HTTP ``status``."""
        self._download_faults.extend([status] * times)

    # -- internals: building the world's objects ----------------------------

    def _new_message_id(self, chat_id: int) -> int:
        counter = self._message_ids.setdefault(chat_id, itertools.count(1))
        return next(counter)

    def _chat_json(self, chat_id: int) -> dict[str, Any]:
        return dict(self._chats[chat_id])

    def _user_message(
        self,
        chat: dict[str, Any],
        user: dict[str, Any],
        *,
        reply_to: int | None = None,
        thread_id: int | None = None,
    ) -> dict[str, Any]:
        chat_id = chat["id"]
        if chat_id not in self._chats:
            self._chats[chat_id] = dict(chat)
        self._users.setdefault(user["id"], dict(user))
        members = self._members.setdefault(chat_id, {})
        if members.get(user["id"], "left") in ("left", "kicked"):
            members[user["id"]] = "member"
        message: dict[str, Any] = {
            "message_id": self._new_message_id(chat_id),
            "from": dict(user),
            "chat": self._chat_json(chat_id),
            "date": int(time.time()),
        }
        if thread_id is not None:
            self._threads.setdefault(chat_id, set()).add(thread_id)
            message["message_thread_id"] = thread_id
            if self._chats[chat_id].get("is_forum"):
                message["is_topic_message"] = True
        if reply_to is not None:
            message["reply_to_message"] = self._any_message_json(chat_id, reply_to)
        self._user_messages[(chat_id, message["message_id"])] = message
        return message

    def _any_message_json(self, chat_id: int, message_id: int) -> dict[str, Any]:
        if (chat_id, message_id) in self._bot_messages:
            replied = self._bot_message_json(self._bot_messages[(chat_id, message_id)])
        elif (chat_id, message_id) in self._user_messages:
            replied = dict(self._user_messages[(chat_id, message_id)])
        else:
            raise AssertionError(f"no message {message_id} in chat {chat_id}")
        replied.pop("reply_to_message", None)
        return replied

    def _add_caption(self, message: dict[str, Any], caption: str | None) -> None:
        if caption is not None:
            message["caption"] = caption
            if entities := detect_entities(caption):
                message["caption_entities"] = entities

    def _store_file(
        self,
        data: bytes | Path,
        folder: str,
        file_name: str | None,
        mime_type: str | None,
        file_size: int | None = None,
    ) -> StoredFile:
        number = next(self._file_counter)
        suffix = Path(file_name).suffix if file_name else ""
        relative = f"{folder}/file_{number}{suffix}"
        path = self.files_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, Path):
            shutil.copyfile(data, path)
        else:
            path.write_bytes(data)
        return self._register_file(path, relative, file_name, mime_type, file_size)

    def _register_file(
        self,
        path: Path,
        relative: str,
        file_name: str | None,
        mime_type: str | None,
        file_size: int | None = None,
    ) -> StoredFile:
        stored = StoredFile(
            file_id="BQAC" + secrets.token_urlsafe(24),
            file_unique_id="AgAD" + secrets.token_urlsafe(8),
            path=path,
            size=path.stat().st_size if file_size is None else file_size,
            file_path=relative,
            file_name=file_name,
            mime_type=mime_type,
        )
        self._files[stored.file_id] = stored
        self._files_by_path[relative] = stored
        return stored

    def _file_json(self, stored: StoredFile, *, with_name: bool) -> dict[str, Any]:
        data: dict[str, Any] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
        }
        if with_name and stored.file_name is not None:
            data["file_name"] = stored.file_name
        if stored.mime_type is not None:
            data["mime_type"] = stored.mime_type
        return data

    def _member_json(self, chat_id: int, user: dict[str, Any], status: str) -> dict[str, Any]:
        user = {k: v for k, v in user.items()}
        if status == "creator":
            return {"status": "creator", "user": user, "is_anonymous": False}
        if status == "administrator":
            rights = dict.fromkeys(
                (
                    "can_manage_chat",
                    "can_delete_messages",
                    "can_manage_video_chats",
                    "can_restrict_members",
                    "can_promote_members",
                    "can_change_info",
                    "can_invite_users",
                    "can_post_stories",
                    "can_edit_stories",
                    "can_delete_stories",
                    "can_send_welcome_messages",
                    "can_pin_messages",
                ),
                True,
            )
            if self._chats.get(chat_id, {}).get("is_forum"):
                rights["can_manage_topics"] = True
            if self._chats.get(chat_id, {}).get("type") == "channel":
                # Rights Telegram gives channel administrators only.
                posts = (chat_id, user["id"]) not in self._cannot_post
                rights.update(can_post_messages=posts, can_edit_messages=posts)
            return {
                "status": "administrator",
                "user": user,
                "can_be_edited": user["id"] != self.bot_id,
                "is_anonymous": False,
                **rights,
            }
        if status == "restricted":
            permissions = dict.fromkeys(
                (
                    "can_send_messages",
                    "can_send_audios",
                    "can_send_documents",
                    "can_send_photos",
                    "can_send_videos",
                    "can_send_video_notes",
                    "can_send_voice_notes",
                    "can_send_polls",
                    "can_send_other_messages",
                    "can_add_web_page_previews",
                    "can_react_to_messages",
                    "can_edit_tag",
                    "can_change_info",
                    "can_invite_users",
                    "can_pin_messages",
                    "can_manage_topics",
                ),
                False,
            )
            return {
                "status": "restricted",
                "user": user,
                "is_member": True,
                "until_date": 0,
                **permissions,
            }
        if status == "kicked":
            return {"status": "kicked", "user": user, "until_date": 0}
        if status in ("member", "left"):
            return {"status": status, "user": user}
        raise ValueError(f"unknown chat member status {status!r}")

    def _queue_update(self, kind: str, payload: dict[str, Any]) -> int:
        update_id = self._next_update_id
        self._next_update_id += 1
        self._updates.append({"update_id": update_id, kind: payload})
        self._wake_pollers()
        return update_id

    def _wake_pollers(self) -> None:
        self._updates_changed.set()
        self._updates_changed = asyncio.Event()

    def _bot_message_json(self, m: BotMessage) -> dict[str, Any]:
        data: dict[str, Any] = {
            "message_id": m.message_id,
            "from": self.bot_user,
            "chat": self._chat_json(m.chat_id),
            "date": m.date,
        }
        if m.edit_date is not None:
            data["edit_date"] = m.edit_date
        if m.thread_id is not None:
            data["message_thread_id"] = m.thread_id
            if self._chats[m.chat_id].get("is_forum"):
                data["is_topic_message"] = True
        if m.text is not None:
            text, entities = self._rendered(m.text, m.parse_mode, m.entities)
            data["text"] = text
            if entities:
                data["entities"] = entities
        if m.caption is not None:
            caption, entities = self._rendered(m.caption, m.parse_mode, m.entities)
            data["caption"] = caption
            if entities:
                data["caption_entities"] = entities
        if m.document is not None:
            data["document"] = self._file_json(m.document, with_name=True)
        if m.video is not None:
            video = self._file_json(m.video, with_name=True)
            video.update(m.media_meta)
            data["video"] = video
        if m.audio is not None:
            audio = self._file_json(m.audio, with_name=True)
            audio.update(m.media_meta)
            data["audio"] = audio
        if m.photo is not None:
            size = self._file_json(m.photo, with_name=False)
            size.pop("mime_type", None)
            data["photo"] = [{**size, "width": 0, "height": 0}]
        if m.forward_origin is not None:
            data["forward_origin"] = m.forward_origin
        if m.poll is not None:
            data["poll"] = m.poll
        if m.reply_markup:
            data["reply_markup"] = m.reply_markup
        if m.reply_to_message_id is not None:
            with contextlib.suppress(AssertionError):
                data["reply_to_message"] = self._any_message_json(m.chat_id, m.reply_to_message_id)
        return data

    @staticmethod
    def _rendered(
        text: str, parse_mode: str | None, entities: list[dict[str, Any]] | None
    ) -> tuple[str, list[dict[str, Any]]]:
        if parse_mode and parse_mode.lower() == "html":
            return parse_html(text)
        return text, list(entities or [])

    # -- internals: HTTP ----------------------------------------------------

    async def _handle_method(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        name = request.match_info["method"]
        entry = self._methods.get(name.lower())
        if entry is None:
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
            )
        canonical, handler = entry
        call = Call(canonical, {}, time.monotonic())
        self.calls.append(call)
        try:
            call.params = await self._read_params(request)
            held = self._take_hold(canonical, call.params)
            if held is not None:
                held.arrived.set()
                await held.released.wait()
            fault = self._take_fault(canonical)
            if fault is not None:
                raise fault
            self._check_flood(canonical, call.params)
            result = await handler(call.params)
            late = self._late_faults.get(canonical.lower())
            if late:
                late[0].times -= 1
                lost = late.pop(0) if late[0].times <= 0 else late[0]
                raise ApiError(lost.error_code, lost.description)
        except ApiError as error:
            call.error = error.description
            return web.json_response(error.payload(), status=error.code)
        except Exception as error:
            # A bug in this server should read as a server error, not a hung test.
            call.error = f"Internal Server Error: {error!r}"
            return web.json_response(
                {"ok": False, "error_code": 500, "description": call.error}, status=500
            )
        return web.json_response({"ok": True, "result": result})

    def _take_hold(self, method: str, params: dict[str, Any]) -> Hold | None:
        for held in self._holds:
            if held.method == method.lower() and all(
                str(params.get(key)) == str(value) for key, value in held.match.items()
            ):
                self._holds.remove(held)
                return held
        return None

    def _take_fault(self, method: str) -> ApiError | None:
        queue = self._faults.get(method.lower())
        if not queue:
            return None
        fault = queue[0]
        fault.times -= 1
        if fault.times <= 0:
            queue.pop(0)
        return ApiError(fault.error_code, fault.description, fault.retry_after)

    async def _read_params(self, request: web.Request) -> dict[str, Any]:
        raw: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                return {**raw, **body}
        elif request.content_type.startswith("multipart/"):
            limit = LOCAL_UPLOAD_LIMIT if self.local_mode else self.upload_limit
            reader = await request.multipart()
            too_large = False
            async for part in reader:
                if not hasattr(part, "filename") or part.name is None:
                    continue
                if part.filename is None:
                    raw[part.name] = await part.text()
                    continue
                number = next(self._file_counter)
                suffix = Path(part.filename).suffix
                relative = f"uploads/file_{number}{suffix}"
                path = self.files_dir / relative
                path.parent.mkdir(parents=True, exist_ok=True)
                size = 0
                with path.open("wb") as sink:
                    while chunk := await part.read_chunk(256 * 1024):
                        size += len(chunk)
                        if size > limit:
                            too_large = True
                        elif not too_large:
                            sink.write(chunk)
                raw[f"attach://{part.name}"] = _Upload(path, relative, part.filename, size)
            if too_large:
                raise ApiError(413, "Request Entity Too Large")
        elif request.can_read_body:
            raw.update(await request.post())
        return {key: _decode(key, value) for key, value in raw.items()}

    async def _handle_download(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        if self._download_faults:
            status = self._download_faults.pop(0)
            return web.Response(status=status, text=f"<html>{status}</html>")
        stored = self._files_by_path.get(request.match_info["path"])
        if stored is None:
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
            )
        return web.FileResponse(stored.path)

    # -- internals: the methods ---------------------------------------------

    def _method_table(self) -> dict[str, Callable[[dict[str, Any]], Awaitable[Any]]]:
        return {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "logOut": self._ok,
            "close": self._ok,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageCaption": self._edit_message_caption,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "getFile": self._get_file,
            "sendDocument": self._send_document,
            "sendVideo": self._send_video,
            "sendAudio": self._send_audio,
            "sendPhoto": self._send_photo,
            "sendPoll": self._send_poll,
            "copyMessage": self._copy_message,
            "forwardMessage": self._forward_message,
            "sendChatAction": self._send_chat_action,
            "getChat": self._get_chat,
            "getChatMember": self._get_chat_member,
            "getChatAdministrators": self._get_chat_administrators,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "setChatMenuButton": self._set_chat_menu_button,
            "getChatMenuButton": self._get_chat_menu_button,
            "setMyDescription": self._ok,
            "setMyShortDescription": self._ok,
            "setMyName": self._ok,
            "pinChatMessage": self._ok,
            "unpinChatMessage": self._ok,
        }

    async def _ok(self, params: dict[str, Any]) -> bool:
        return True

    async def _get_me(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = float(params.get("timeout") or 0)
        if "allowed_updates" in params:
            allowed = params["allowed_updates"] or []
            self._allowed_updates = set(allowed) or None
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        self._poll_generation += 1
        generation = self._poll_generation
        self._wake_pollers()  # an older long poll answers 409 instead of lingering

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            batch = self._deliverable(limit)
            if batch or self._closing:
                return batch
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            changed = self._updates_changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    def _deliverable(self, limit: int) -> list[dict[str, Any]]:
        def wanted(update: dict[str, Any]) -> bool:
            kind = next(k for k in update if k != "update_id")
            if self._allowed_updates is None:
                return kind not in OPT_IN_UPDATES
            return kind in self._allowed_updates

        # Telegram drops updates of kinds the bot did not ask for.
        self._updates = [u for u in self._updates if wanted(u)]
        return self._updates[:limit]

    async def _set_webhook(self, params: dict[str, Any]) -> bool:
        if params.get("drop_pending_updates"):
            self._updates.clear()
        self.webhook = {k: v for k, v in params.items() if not k.startswith("attach://")}
        if "allowed_updates" in params:
            self._allowed_updates = set(params["allowed_updates"] or []) or None
        self._wake_pollers()
        if self._webhook_task is None:
            self._webhook_task = asyncio.create_task(self._deliver_to_webhook())
        return True

    async def _delete_webhook(self, params: dict[str, Any]) -> bool:
        if params.get("drop_pending_updates"):
            self._updates.clear()
        self.webhook = None
        await self._stop_webhook_delivery()
        return True

    async def _deliver_to_webhook(self) -> None:
        """Posts each update to the webhook in turn, as Telegram does, until it is deleted.

        An update leaves the queue once the webhook answers 2xx; otherwise it is posted again.
        """
        import aiohttp

        async with aiohttp.ClientSession() as http:
            while self.webhook is not None and not self._closing:
                batch = self._deliverable(1)
                if not batch:
                    changed = self._updates_changed
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(changed.wait(), 1.0)
                    continue
                update, url = batch[0], self.webhook["url"]
                headers = {}
                if token := self.webhook.get("secret_token"):
                    headers["X-Telegram-Bot-Api-Secret-Token"] = token
                try:
                    async with http.post(url, json=update, headers=headers) as answer:
                        status = answer.status
                except aiohttp.ClientError:
                    status = 0
                self.webhook_posts.append((update["update_id"], status))
                if 200 <= status < 300:
                    with contextlib.suppress(ValueError):
                        self._updates.remove(update)
                else:
                    await asyncio.sleep(0.2)

    async def _stop_webhook_delivery(self) -> None:
        task, self._webhook_task = self._webhook_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _get_webhook_info(self, params: dict[str, Any]) -> dict[str, Any]:
        webhook = self.webhook or {}
        return {
            "url": webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    # messages

    def _target_chat(self, params: dict[str, Any], *, writing: bool = False) -> int:
        raw = params.get("chat_id")
        if raw is None or raw == "":
            raise bad_request("chat_id is empty")
        if isinstance(raw, str) and raw.startswith("@"):
            chat_id = self._chat_usernames.get(raw[1:].lower())
            if chat_id is None:
                raise bad_request("chat not found")
            return chat_id
        try:
            chat_id = int(raw)
        except (TypeError, ValueError):
            raise bad_request("chat not found") from None
        if chat_id not in self._chats:
            if writing and chat_id in self._users:
                # The user exists but never opened a chat with the bot (see private_chat).
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
            raise bad_request("chat not found")
        return chat_id

    def _writable_chat(self, params: dict[str, Any]) -> int:
        chat_id = self._target_chat(params, writing=True)
        if chat_id in self._migrated:
            raise MigratedError(self._migrated[chat_id])
        chat = self._chats[chat_id]
        if chat["type"] == "private":
            if chat_id in self.blocked_by:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
        else:
            status = self.member_status(chat_id, self.bot_id)
            if status in ("left", "kicked"):
                kind = "channel" if chat["type"] == "channel" else "supergroup"
                raise ApiError(403, f"Forbidden: bot is not a member of the {kind} chat")
            if chat["type"] == "channel" and status not in ("administrator", "creator"):
                raise ApiError(403, "Forbidden: bot is not a member of the channel chat")
        return chat_id

    def _reply_target(self, chat_id: int, params: dict[str, Any]) -> int | None:
        reply = params.get("reply_parameters")
        message_id = None
        allow_missing = False
        if isinstance(reply, dict):
            message_id = reply.get("message_id")
            allow_missing = bool(reply.get("allow_sending_without_reply"))
        elif params.get("reply_to_message_id") is not None:
            message_id = params["reply_to_message_id"]
            allow_missing = bool(params.get("allow_sending_without_reply"))
        if message_id is None:
            return None
        message_id = int(message_id)
        key = (chat_id, message_id)
        exists = key in self._user_messages or (
            key in self._bot_messages and not self._bot_messages[key].deleted
        )
        if key in self.deleted_user_messages:
            exists = False
        if not exists:
            if allow_missing:
                return None
            raise bad_request("message to be replied not found")
        return message_id

    def _thread(self, chat_id: int, params: dict[str, Any], reply_to: int | None) -> int | None:
        thread = params.get("message_thread_id")
        chat = self._chats[chat_id]
        if thread is None and reply_to is not None:
            replied = self._user_messages.get((chat_id, reply_to))
            if replied is not None:
                thread = replied.get("message_thread_id")
            elif (chat_id, reply_to) in self._bot_messages:
                thread = self._bot_messages[(chat_id, reply_to)].thread_id
        if thread is None:
            return None
        thread = int(thread)
        if chat.get("is_forum") and thread not in self._threads.get(chat_id, set()):
            raise bad_request("message thread not found")
        return thread

    @staticmethod
    def _markup(params: dict[str, Any]) -> dict[str, Any] | None:
        markup = params.get("reply_markup")
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise bad_request(
                    'field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays'
                )
            for row in rows:
                for button in row:
                    if not button.get("text"):
                        raise bad_request("text buttons are unallowed in the inline keyboard")
                    data = button.get("callback_data")
                    if data is not None and not 1 <= len(data.encode()) <= MAX_CALLBACK_DATA:
                        raise bad_request("BUTTON_DATA_INVALID")
            if not any(rows):
                return None
        return markup

    def _check_text(self, text: str, parse_mode: str | None, *, caption: bool) -> None:
        plain, _ = self._rendered(text, parse_mode, None)
        if caption:
            if utf16_len(plain) > MAX_CAPTION_LENGTH:
                raise bad_request("message caption is too long")
        else:
            if not plain.strip():
                raise bad_request("message text is empty")
            if utf16_len(plain) > MAX_TEXT_LENGTH:
                raise bad_request("message is too long")

    def _new_bot_message(
        self,
        chat_id: int,
        params: dict[str, Any],
        *,
        text: str | None = None,
        caption: str | None = None,
    ) -> BotMessage:
        reply_to = self._reply_target(chat_id, params)
        thread = self._thread(chat_id, params, reply_to)
        now = time.monotonic()
        message = BotMessage(
            message_id=self._new_message_id(chat_id),
            chat_id=chat_id,
            thread_id=thread,
            text=text,
            caption=caption,
            parse_mode=params.get("parse_mode"),
            reply_markup=self._markup(params),
            reply_to_message_id=reply_to,
            seq=next(self._seq),
            date=int(time.time()),
            sent_at=now,
            entities=params.get("entities") or params.get("caption_entities"),
        )
        message.history.append(Revision(message.content, now))
        return message

    def _publish(self, message: BotMessage) -> dict[str, Any]:
        self._bot_messages[(message.chat_id, message.message_id)] = message
        self._sent.append(message)
        return self._bot_message_json(message)

    async def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._writable_chat(params)
        text = params.get("text")
        if not isinstance(text, str):
            raise bad_request("message text is empty")
        self._check_text(text, params.get("parse_mode"), caption=False)
        return self._publish(self._new_bot_message(chat_id, params, text=text))

    def _editable(self, params: dict[str, Any]) -> BotMessage:
        if params.get("inline_message_id"):
            raise bad_request("inline messages are not supported by this server")
        chat_id = self._target_chat(params)
        try:
            message_id = int(params.get("message_id") or 0)
        except (TypeError, ValueError):
            raise bad_request("message to edit not found") from None
        key = (chat_id, message_id)
        if key in self._user_messages and key not in self.deleted_user_messages:
            raise bad_request("message can't be edited")
        message = self._bot_messages.get(key)
        if message is None or message.deleted:
            raise bad_request("message to edit not found")
        return message

    def _apply_edit(
        self,
        message: BotMessage,
        *,
        text: str | None,
        parse_mode: str | None,
        markup: dict[str, Any] | None,
        entities: list[dict[str, Any]] | None,
    ) -> dict[str, Any]:
        new_content = text if text is not None else message.content
        new_parse_mode = parse_mode if text is not None else message.parse_mode
        old = self._rendered(message.content or "", message.parse_mode, message.entities)
        new = self._rendered(
            new_content or "", new_parse_mode, entities if text is not None else message.entities
        )
        if old == new and markup == message.reply_markup:
            raise ApiError(400, NOT_MODIFIED)
        now = time.monotonic()
        if text is not None:
            if message.text is not None:
                message.text = text
            else:
                message.caption = text
            message.parse_mode = parse_mode
            message.entities = entities
        message.reply_markup = markup
        message.edit_date = int(time.time())
        message.history.append(Revision(message.content, now))
        return self._bot_message_json(message)

    async def _edit_message_text(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._editable(params)
        if message.text is None:
            raise bad_request("there is no text in the message to edit")
        text = params.get("text")
        if not isinstance(text, str):
            raise bad_request("message text is empty")
        self._check_text(text, params.get("parse_mode"), caption=False)
        return self._apply_edit(
            message,
            text=text,
            parse_mode=params.get("parse_mode"),
            markup=self._markup(params),
            entities=params.get("entities"),
        )

    async def _edit_message_caption(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._editable(params)
        if message.text is not None:
            raise bad_request("there is no caption in the message to edit")
        caption = params.get("caption") or ""
        self._check_text(caption, params.get("parse_mode"), caption=True)
        return self._apply_edit(
            message,
            text=caption,
            parse_mode=params.get("parse_mode"),
            markup=self._markup(params),
            entities=params.get("caption_entities"),
        )

    async def _edit_message_reply_markup(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._editable(params)
        return self._apply_edit(
            message, text=None, parse_mode=None, markup=self._markup(params), entities=None
        )

    async def _delete_message(self, params: dict[str, Any]) -> bool:
        chat_id = self._target_chat(params)
        message_id = int(params.get("message_id") or 0)
        key = (chat_id, message_id)
        message = self._bot_messages.get(key)
        if message is not None:
            if message.deleted:
                raise bad_request("message to delete not found")
            message.deleted = True
            return True
        if key in self._user_messages and key not in self.deleted_user_messages:
            chat = self._chats[chat_id]
            if chat["type"] != "private" and self.member_status(chat_id, self.bot_id) not in (
                "administrator",
                "creator",
            ):
                raise bad_request("message can't be deleted")
            self.deleted_user_messages.add(key)
            return True
        raise bad_request("message to delete not found")

    async def _answer_callback_query(self, params: dict[str, Any]) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        query = self._queries.get(query_id)
        if query is None or query.answered:
            raise ApiError(400, QUERY_TOO_OLD)
        query.answered = True
        answer: dict[str, Any] = {
            "text": params.get("text"),
            "show_alert": bool(params.get("show_alert", False)),
        }
        for key in ("url", "cache_time"):
            if params.get(key) is not None:
                answer[key] = params[key]
        self.callback_answers[query_id] = answer
        return True

    # files

    async def _get_file(self, params: dict[str, Any]) -> dict[str, Any]:
        stored = self._files.get(str(params.get("file_id") or ""))
        if stored is None:
            raise bad_request("wrong file_id or the file is temporarily unavailable")
        if not self.local_mode and stored.size > self.download_limit:
            raise bad_request("file is too big")
        file_path = str(stored.path.resolve()) if self.local_mode else stored.file_path
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
            "file_path": file_path,
        }

    def _input_file(self, params: dict[str, Any], field_name: str, folder: str) -> StoredFile:
        value = params.get(field_name)
        if isinstance(value, str) and value.startswith("attach://"):
            upload = params.get(value)
            if not isinstance(upload, _Upload):
                raise bad_request(f"file {value} not found in the request")
            relative = f"{folder}/file_{next(self._file_counter)}{Path(upload.filename).suffix}"
            path = self.files_dir / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            upload.path.replace(path)
            mime = mimetypes.guess_type(upload.filename)[0] or "application/octet-stream"
            return self._register_file(path, relative, upload.filename, mime)
        if isinstance(value, str) and value in self._files:
            return self._files[value]
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            raise bad_request("failed to get HTTP URL content")
        raise bad_request(f"there is no {field_name} in the request")

    async def _send_media(self, params: dict[str, Any], kind: str, folder: str) -> dict[str, Any]:
        chat_id = self._writable_chat(params)
        caption = params.get("caption")
        if caption is not None:
            self._check_text(caption, params.get("parse_mode"), caption=True)
        stored = self._input_file(params, kind, folder)
        message = self._new_bot_message(chat_id, params, caption=caption)
        if kind == "document":
            message.document = stored
        elif kind == "video":
            message.video = stored
            message.media_meta = {
                "duration": int(params.get("duration") or 0),
                "width": int(params.get("width") or 0),
                "height": int(params.get("height") or 0),
            }
        elif kind == "photo":
            message.photo = stored
        else:
            message.audio = stored
            message.media_meta = {"duration": int(params.get("duration") or 0)}
            for key in ("title", "performer"):
                if params.get(key):
                    message.media_meta[key] = params[key]
        return self._publish(message)

    async def _send_document(self, params: dict[str, Any]) -> dict[str, Any]:
        return await self._send_media(params, "document", "documents")

    async def _send_video(self, params: dict[str, Any]) -> dict[str, Any]:
        return await self._send_media(params, "video", "videos")

    async def _send_audio(self, params: dict[str, Any]) -> dict[str, Any]:
        return await self._send_media(params, "audio", "music")

    async def _send_photo(self, params: dict[str, Any]) -> dict[str, Any]:
        return await self._send_media(params, "photo", "photos")

    async def _send_poll(self, params: dict[str, Any]) -> dict[str, Any]:
        """A poll within Telegram's limits: question 1-300, 2-10 options of 1-100, and for a
        quiz one right option and an explanation of at most 200 (all after entity parsing)."""
        chat_id = self._writable_chat(params)
        question, _ = self._rendered(
            str(params.get("question") or ""), params.get("question_parse_mode"), None
        )
        if not 1 <= utf16_len(question.strip()) <= 300:
            raise bad_request("poll question length must not exceed 300")
        raw = params.get("options")
        if not isinstance(raw, list) or not 2 <= len(raw) <= 10:
            raise bad_request("poll must have 2-10 options")
        options = [str(o.get("text") if isinstance(o, dict) else o) for o in raw]
        if any(not 1 <= utf16_len(o.strip()) <= 100 for o in options):
            raise bad_request("poll options length must not exceed 100")
        kind = params.get("type") or "regular"
        right = params.get("correct_option_ids")
        if right is None and params.get("correct_option_id") is not None:
            right = [params["correct_option_id"]]
        explanation = params.get("explanation")
        if kind == "quiz":
            if not isinstance(right, list) or len(right) != 1 or not 0 <= int(right[0]) < len(raw):
                raise bad_request("wrong correct option ID specified")
        if explanation is not None:
            explanation, _ = self._rendered(
                str(explanation), params.get("explanation_parse_mode"), None
            )
            if utf16_len(explanation) > 200 or explanation.count("\n") > 2:
                raise bad_request("explanation is too long")
        message = self._new_bot_message(chat_id, params)
        message.poll = {
            "id": f"poll-{message.message_id}",
            "question": question,
            "options": [
                {"persistent_id": str(i), "text": o, "voter_count": 0}
                for i, o in enumerate(options)
            ],
            "total_voter_count": 0,
            "is_closed": False,
            "is_anonymous": params.get("is_anonymous") is not False,
            "type": kind,
            "allows_multiple_answers": False,
            "allows_revoting": False,
            "members_only": False,
        }
        if kind == "quiz":
            message.poll["correct_option_id"] = int(right[0])  # type: ignore[index]
            if explanation:
                message.poll["explanation"] = explanation
        return self._publish(message)

    def _copied(
        self, params: dict[str, Any], *, keep_caption: bool
    ) -> tuple[int, BotMessage, dict[str, Any]]:
        """A new bot message carrying the content of ``from_chat_id``/``message_id``."""
        chat_id = self._writable_chat(params)
        source_chat = self._target_chat({"chat_id": params.get("from_chat_id")})
        source_id = int(params.get("message_id") or 0)
        key = (source_chat, source_id)
        origin_sender: dict[str, Any]
        if key in self._bot_messages and not self._bot_messages[key].deleted:
            source = self._bot_messages[key]
            origin_sender = self.bot_user
            content: dict[str, Any] = {
                "text": source.text,
                "caption": source.caption,
                "parse_mode": source.parse_mode,
                "entities": source.entities,
                "document": source.document,
                "video": source.video,
                "audio": source.audio,
                "photo": source.photo,
                "media_meta": dict(source.media_meta),
            }
        elif key in self._user_messages and key not in self.deleted_user_messages:
            raw = self._user_messages[key]
            origin_sender = raw["from"]
            content = {
                "text": raw.get("text"),
                "caption": raw.get("caption"),
                "parse_mode": None,
                "entities": raw.get("entities") or raw.get("caption_entities"),
                "media_meta": {},
            }
            for kind in ("document", "video", "audio"):
                if kind in raw:
                    content[kind] = self._files.get(raw[kind]["file_id"])
                    content["media_meta"] = {
                        k: v
                        for k, v in raw[kind].items()
                        if k in ("duration", "width", "height", "title", "performer")
                    }
        else:
            raise bad_request("message to copy not found")
        if not keep_caption and "caption" in params and content["text"] is None:
            content["caption"] = params["caption"]
            content["parse_mode"] = params.get("parse_mode")
            content["entities"] = params.get("caption_entities")
        message = self._new_bot_message(chat_id, params, text=content.pop("text"))
        for name, value in content.items():
            setattr(message, name, value)
        message.history = [Revision(message.content, message.sent_at)]
        return chat_id, message, origin_sender

    async def _copy_message(self, params: dict[str, Any]) -> dict[str, Any]:
        _, message, _ = self._copied(params, keep_caption=False)
        self._publish(message)
        return {"message_id": message.message_id}

    async def _forward_message(self, params: dict[str, Any]) -> dict[str, Any]:
        _, message, sender = self._copied(params, keep_caption=True)
        message.reply_markup = None
        message.forward_origin = {"type": "user", "sender_user": sender, "date": message.date}
        return self._publish(message)

    async def _send_chat_action(self, params: dict[str, Any]) -> bool:
        self._writable_chat(params)
        return True

    # chats and members

    async def _get_chat(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._target_chat(params)
        return {
            **self._chat_json(chat_id),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    async def _get_chat_member(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._target_chat(params)
        user_id = int(params.get("user_id") or 0)
        if user_id == self.bot_id:
            user = self.bot_user
        elif user_id in self._users:
            user = self._users[user_id]
        else:
            raise bad_request("user not found")
        if self._chats[chat_id]["type"] == "private":
            status = "member" if user_id in (chat_id, self.bot_id) else "left"
        else:
            status = self.member_status(chat_id, user_id)
        return self._member_json(chat_id, user, status)

    async def _get_chat_administrators(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        chat_id = self._target_chat(params)
        if self._chats[chat_id]["type"] == "private":
            raise bad_request("there are no administrators in the private chat")
        admins = []
        for user_id, status in self._members.get(chat_id, {}).items():
            if status not in ("creator", "administrator"):
                continue
            user = self.bot_user if user_id == self.bot_id else self._users.get(user_id)
            if user is None:
                user = {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"}
            admins.append(self._member_json(chat_id, user, status))
        admins.sort(key=lambda m: m["status"] != "creator")
        return admins

    # commands and menu

    @staticmethod
    def _scope_key(params: dict[str, Any]) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        key = scope.get("type", "default")
        if "chat_id" in scope:
            key += f":{scope['chat_id']}"
        if "user_id" in scope:
            key += f":{scope['user_id']}"
        return key, str(params.get("language_code") or "")

    async def _set_my_commands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad_request("commands must be an array of at most 100 BotCommand")
        for command in commands:
            name = command.get("command", "")
            if not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(command.get("description", "")) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[self._scope_key(params)] = commands
        return True

    async def _get_my_commands(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        return self.commands.get(self._scope_key(params), [])

    async def _delete_my_commands(self, params: dict[str, Any]) -> bool:
        self.commands.pop(self._scope_key(params), None)
        return True

    async def _set_chat_menu_button(self, params: dict[str, Any]) -> bool:
        chat_id = params.get("chat_id")
        self.menu_buttons[int(chat_id) if chat_id is not None else None] = params.get(
            "menu_button"
        ) or {"type": "default"}
        return True

    async def _get_chat_menu_button(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = params.get("chat_id")
        key = int(chat_id) if chat_id is not None else None
        return self.menu_buttons.get(key) or self.menu_buttons.get(None) or {"type": "commands"}


@dataclass
class _Upload:
    path: Path
    relative: str
    filename: str
    size: int


def _decode(key: str, value: Any) -> Any:
    """Form values arrive as strings; complex ones are JSON, as aiogram encodes them."""
    if not isinstance(value, str) or key in STRING_PARAMS or key.startswith("attach://"):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value
