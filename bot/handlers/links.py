"""Recordings arriving as links: one recording per video, checked before download.

The link is looked at here before anything is queued: a refusal (a private address, a site
yt-dlp does not know, a video that is too long or too large) reaches the person within
seconds, and a playlist is offered for confirmation with its size. The fetch stage looks
again on fresh information before it downloads.

Each look runs in a child process (`integrations.link_probe`) that is killed at the deadline
(`link_check_seconds`), reads at most a few MB of pages, and never holds a thread the stages
need; INSPECT_SLOTS of them run at once per bot process, and the others wait their turn
with the "looking at the link" message showing.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError, TelegramRetryAfter
from aiogram.filters import Filter
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    MessageEntity,
    ReplyParameters,
)
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import links as cb
from bot.callbacks.links import PlaylistCb
from bot.filters import AuthorOrAdmin
from bot.handlers.intake import language_refusal
from bot.handlers.usage import refusal_text
from bot.keyboards import links as keyboards
from integrations import link_probe
from integrations.links import LinkError, Playlist, Video
from jobs import control
from jobs.enqueue import enqueue_stage
from jobs.fetch_link import link_limits
from leap.settings import Settings
from locales import Translator, gettext
from locales.format import duration, size
from storage import quotas, repo
from storage.files import MediaStore
from storage.models import SourceKind, Workspace

log = logging.getLogger(__name__)

# Links taken from one message; the rest are named as left out.
MAX_LINKS = 5
# Links looked at together by one bot process; each is a child process while yt-dlp works.
INSPECT_SLOTS = 3
OFFER_TTL = 24 * 3600

# Telegram marks http(s) addresses as entities; other schemes are found here so that they
# are refused with a reason instead of being taken for chatter.
_OTHER_SCHEME = re.compile(r"(?i)(?<![\w.+-])(?:[a-z][a-z0-9+.-]*://|data:)[^\s<>\"']+")
_TRAILING = ".,;:!?)]}»\"'"
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)

T = TypeVar("T")


def _links_in(message: Message) -> list[tuple[str, str]]:
    """Each address with the text that shows it in the message."""
    text = message.text or message.caption or ""
    entities: list[MessageEntity] = list(message.entities or message.caption_entities or [])
    found: list[tuple[str, str]] = []
    for entity in entities:
        if entity.type == "text_link" and entity.url and _is_web(entity.url):
            found.append((entity.url, entity.extract_from(text)))
        elif entity.type == "url":
            shown = entity.extract_from(text)
            found.append((shown if "://" in shown else f"https://{shown}", shown))
    for match in _OTHER_SCHEME.finditer(text):
        address = match.group(0).rstrip(_TRAILING)
        if entities and _is_web(address):
            continue  # Telegram's entity has the exact extent already
        found.append((address, address))
    return found


def _is_web(address: str) -> bool:
    return address.lower().startswith(("http://", "https://"))


def reason(exc: LinkError, lang: str) -> str:
    """The message for a refused link, its numbers written for people."""
    params = dict(exc.params)
    if exc.code == "too_long":
        params = {"duration": duration(params["duration"]), "limit": duration(params["limit"])}
    elif exc.code == "link_too_large":
        params = {"size": size(lang, params["size"]), "limit": size(lang, params["limit"])}
    return gettext(lang, f"error.{exc.code}", **params)


class HasLinks(Filter):
    """A message with addresses in it; in a group only one meant for the bot.

    In a group a message counts when it replies to the bot, mentions it, or is nothing but
    links: a link inside a conversation is people talking to each other.
    """

    async def __call__(self, message: Message, bot: Bot) -> bool | dict[str, Any]:
        found = _links_in(message)
        if not found:
            return False
        urls = list(dict.fromkeys(address for address, _shown in found))
        if message.chat.type == "private":
            return {"urls": urls}
        me = await bot.me()
        text = message.text or message.caption or ""
        replied = message.reply_to_message
        if replied is not None and replied.from_user is not None and replied.from_user.id == me.id:
            return {"urls": urls}
        mention = f"@{me.username}".lower() if me.username else None
        if mention and mention in text.lower():
            return {"urls": urls}
        rest = text
        for _address, shown in found:
            rest = rest.replace(shown, " ")
        return {"urls": urls} if not rest.strip() else False


class LinkIntake:
    """The link handlers, with the slots that bound how many links are looked at at once."""

    def __init__(self) -> None:
        self.slots = asyncio.Semaphore(INSPECT_SLOTS)

    async def inspect(self, url: str, settings: Settings) -> Video | Playlist:
        # The deadline starts with the look itself, not with the wait for a slot.
        async with self.slots:
            return await link_probe.inspect(
                url,
                link_limits(settings),
                allow_private=settings.allow_private_urls,
                proxy=settings.link_proxy,
                seconds=settings.link_check_seconds,
            )

    async def received(
        self,
        message: Message,
        urls: list[str],
        session: AsyncSession,
        workspace: Workspace,
        settings: Settings,
        store: MediaStore,
        arq: ArqRedis,
        bot: Bot,
        lang: str,
        _: Translator,
    ) -> None:
        # Nothing is written while the links are looked at; a long look must not hold the
        # database (SQLite locks it for every writer while a transaction is open).
        await session.commit()
        refusal = language_refusal(workspace, settings, _)
        if refusal is not None:
            await message.reply(refusal)
            return
        if len(urls) > MAX_LINKS:
            await message.reply(_("links.too_many", limit=MAX_LINKS))
        for url in urls[:MAX_LINKS]:
            await self._take(message, url, session, workspace, settings, store, arq, bot, lang, _)

    async def _take(
        self,
        message: Message,
        url: str,
        session: AsyncSession,
        workspace: Workspace,
        settings: Settings,
        store: MediaStore,
        arq: ArqRedis,
        bot: Bot,
        lang: str,
        _: Translator,
    ) -> None:
        shown = html.escape(_shorten(url))
        reply = await message.reply(
            _("links.checking", url=shown), link_preview_options=_NO_PREVIEW
        )
        try:
            found = await self.inspect(url, settings)
        except LinkError as exc:
            await _edit(bot, reply, _("links.refused", url=shown, reason=reason(exc, lang)))
            return
        except Exception:
            log.exception("looking at a link failed")
            await _edit(bot, reply, _("links.refused", url=shown, reason=_("error.link_failed")))
            return
        if isinstance(found, Playlist):
            await _offer(message, reply, found, workspace, settings, arq, bot, lang, _)
            return
        async with control.quota_turn(arq, workspace.id):
            refusal = await _over_quota(session, store, workspace, settings, found, lang)
            if refusal is None:
                await _queue(
                    session,
                    arq,
                    bot,
                    workspace,
                    settings,
                    found,
                    lang=lang,
                    chat_id=message.chat.id,
                    thread_id=message.message_thread_id if message.is_topic_message else None,
                    user_id=message.from_user.id if message.from_user else None,
                    progress_id=reply.message_id,
                )
        if refusal is not None:
            # The check read the database; the next link is looked at with nothing held.
            await session.commit()
            await _edit(bot, reply, _("links.refused", url=shown, reason=refusal))

    async def answered(
        self,
        query: CallbackQuery,
        callback_data: PlaylistCb,
        offer: dict[str, Any],
        session: AsyncSession,
        workspace: Workspace,
        settings: Settings,
        store: MediaStore,
        arq: ArqRedis,
        bot: Bot,
    ) -> None:
        prompt = query.message
        assert prompt is not None  # LiveOffer found the offer by this message
        key = _offer_key(prompt.chat.id, prompt.message_id)
        # Two quick presses: only the one that removes the offer acts on it.
        if not await arq.delete(key):
            await query.answer()
            return
        await query.answer()
        lang = str(offer["lang"])
        title = html.escape(str(offer["title"]))
        if callback_data.action != cb.ACCEPT:
            await _edit_id(
                bot,
                prompt.chat.id,
                prompt.message_id,
                gettext(lang, "links.playlist_declined", title=title),
            )
            return
        queued = 0
        refusal: str | None = None
        # Nothing held while waiting for the quota turn: an open transaction would hold SQLite
        # against the turn's holder, and its old snapshot would miss what that holder counted.
        await session.commit()
        try:
            for item in offer["videos"]:
                video = Video(
                    url=item["url"],
                    title=item["title"],
                    item=item.get("item"),
                    duration=item.get("duration"),
                )
                async with control.quota_turn(arq, workspace.id):
                    refusal = await _over_quota(session, store, workspace, settings, video, lang)
                    if refusal is None:
                        progress_id = await _announce(bot, prompt.chat.id, offer, video, lang)
                        await _queue(
                            session,
                            arq,
                            bot,
                            workspace,
                            settings,
                            video,
                            lang=lang,
                            chat_id=prompt.chat.id,
                            thread_id=offer.get("thread"),
                            user_id=int(offer["user"]),
                            progress_id=progress_id,
                            announced=True,
                        )
                if refusal is not None:
                    break
                queued += 1
        finally:
            # The offer is gone from Redis already: whatever happened above, the message
            # says how many of its videos were queued, and loses its buttons.
            done = gettext(lang, "links.playlist_queued", title=title, count=queued)
            await _edit_id(
                bot,
                prompt.chat.id,
                prompt.message_id,
                f"{done}\n{refusal}" if refusal else done,
            )


async def _announce(
    bot: Bot, chat_id: int, offer: dict[str, Any], video: Video, lang: str
) -> int | None:
    """The progress message of one video of a playlist; None when Telegram would not take it.

    The video is queued either way: the worker reports on it without a message of its own
    rather than the rest of the playlist being lost.
    """
    text = gettext(lang, "intake.queued", name=html.escape(video.title))
    try:
        sent = await _retry(
            lambda: bot.send_message(
                chat_id,
                text,
                message_thread_id=offer.get("thread"),
                reply_parameters=ReplyParameters(
                    message_id=int(offer["reply_to"]), allow_sending_without_reply=True
                ),
            )
        )
    except TelegramAPIError as exc:
        log.warning("no progress message for a playlist video in chat %s: %s", chat_id, exc)
        return None
    return sent.message_id


async def _offer(
    message: Message,
    reply: Message,
    playlist: Playlist,
    workspace: Workspace,
    settings: Settings,
    arq: ArqRedis,
    bot: Bot,
    lang: str,
    _: Translator,
) -> None:
    limit = settings.max_duration_hours * 3600
    fitting = [v for v in playlist.videos if v.duration is None or v.duration <= limit]
    skipped = len(playlist.videos) - len(fitting)
    title = html.escape(playlist.title)
    if not fitting:
        await _edit(bot, reply, _("links.playlist_empty", title=title, limit=duration(limit)))
        return
    lengths = [v.duration for v in fitting]
    if all(d is not None for d in lengths):
        total = sum(d for d in lengths if d is not None)
        lines = [_("links.playlist", title=title, count=len(fitting), duration=duration(total))]
    else:
        lines = [_("links.playlist_unknown_length", title=title, count=len(fitting))]
    if playlist.total is None:
        lines.append(_("links.playlist_more_unknown", count=len(playlist.videos)))
    elif playlist.total > len(playlist.videos):
        lines.append(_("links.playlist_more", total=playlist.total, count=len(playlist.videos)))
    if skipped:
        lines.append(_("links.playlist_skipped", limit=duration(limit), skipped=skipped))
    lines.append(_("links.playlist_question"))
    offer = {
        "ws": workspace.id,
        "user": message.from_user.id if message.from_user else 0,
        "lang": lang,
        "reply_to": message.message_id,
        "thread": message.message_thread_id if message.is_topic_message else None,
        "title": playlist.title,
        "videos": [
            {"url": v.url, "title": v.title, "item": v.item, "duration": v.duration}
            for v in fitting
        ],
    }
    await arq.set(
        _offer_key(reply.chat.id, reply.message_id),
        json.dumps(offer, ensure_ascii=False),
        ex=OFFER_TTL,
    )
    await _edit(bot, reply, "\n".join(lines), keyboards.playlist_offer(_))


async def _queue(
    session: AsyncSession,
    arq: ArqRedis,
    bot: Bot,
    workspace: Workspace,
    settings: Settings,
    video: Video,
    *,
    lang: str,
    chat_id: int,
    thread_id: int | None,
    user_id: int | None,
    progress_id: int | None,
    announced: bool = False,
) -> None:
    """One recording for one video, its progress message, and the fetch handed on."""
    options: dict[str, Any] = _pipeline_options(workspace, settings)
    if video.item is not None:
        options["link_item"] = video.item
    # Counted against the quotas until the download is measured.
    if video.duration:
        options["declared_seconds"] = video.duration
    if video.size:
        options["declared_bytes"] = video.size
    recording = await repo.create_recording(
        session,
        workspace.id,
        created_by=user_id,
        source_kind=SourceKind.LINK,
        source_ref=video.url,
        source_name=video.title[:512],
        source_ext="mp4",
        language=lang,
        chat_id=chat_id,
        thread_id=thread_id,
        stage="fetch",
        options=options,
        progress_message_id=progress_id,
    )
    await repo.stage_run(session, workspace.id, recording.id, "fetch")
    # The worker must find the row, so commit before handing the work over.
    await session.commit()
    if not announced and progress_id is not None:
        await _edit_id(
            bot, chat_id, progress_id, gettext(lang, "intake.queued", name=html.escape(video.title))
        )
    await enqueue_stage(arq, workspace.id, recording.id, "fetch")
    log.info("recording %s queued from a link in chat %s", recording.id, chat_id)


def _pipeline_options(workspace: Workspace, settings: Settings) -> dict[str, Any]:
    """What the pipeline needs from the workspace's settings, fixed when the link arrives."""
    chosen = workspace.settings or {}
    return {
        "remove_pauses": bool(chosen.get("remove_pauses", False)),
        "transcribe_language": str(
            chosen.get("transcribe_language") or settings.transcribe_language
        ),
    }


async def _over_quota(
    session: AsyncSession,
    store: MediaStore,
    workspace: Workspace,
    settings: Settings,
    video: Video,
    lang: str,
) -> str | None:
    """Why this video would take the workspace over a quota, in words; None when it fits."""
    refusal = await quotas.check(
        session, store, workspace, settings, size=video.size, seconds=video.duration
    )
    return None if refusal is None else refusal_text(Translator(lang), refusal)


def _offer_key(chat_id: int, message_id: int) -> str:
    return f"leap:links:offer:{chat_id}:{message_id}"


class LiveOffer(Filter):
    """The button answers a playlist offer of this workspace that still stands.

    Hands over the `offer` and its `author`, the person who sent the link, for `AuthorOrAdmin`.
    """

    async def __call__(
        self, query: CallbackQuery, arq: ArqRedis, workspace: Workspace | None = None
    ) -> bool | dict[str, Any]:
        prompt = query.message
        if prompt is None or workspace is None:
            return False
        raw = await arq.get(_offer_key(prompt.chat.id, prompt.message_id))
        offer: dict[str, Any] | None = json.loads(raw) if raw else None
        if offer is None or offer.get("ws") != workspace.id:
            return False
        return {"offer": offer, "author": int(offer["user"])}


async def offer_not_yours(query: CallbackQuery, _: Translator) -> None:
    await query.answer(_("links.offer_not_yours"), show_alert=True)


async def offer_gone(query: CallbackQuery, bot: Bot, _: Translator) -> None:
    await query.answer(_("links.offer_expired"), show_alert=True)
    prompt = query.message
    if prompt is None:
        return
    with contextlib.suppress(TelegramAPIError):
        # Buttons of an offer that is gone only mislead; they may be gone already.
        await bot.edit_message_reply_markup(
            chat_id=prompt.chat.id, message_id=prompt.message_id, reply_markup=None
        )


def _shorten(url: str, limit: int = 120) -> str:
    return url if len(url) <= limit else url[: limit - 1] + "…"


async def _retry(call: Callable[[], Awaitable[T]], tries: int = 3) -> T:
    """A Bot API call that waits out flood control instead of losing the message."""
    for attempt in range(tries):
        try:
            return await call()
        except TelegramRetryAfter as exc:
            if attempt == tries - 1:
                raise
            await asyncio.sleep(exc.retry_after)
    raise AssertionError("unreachable")


async def _edit(
    bot: Bot, message: Message, text: str, markup: InlineKeyboardMarkup | None = None
) -> None:
    await _edit_id(bot, message.chat.id, message.message_id, text, markup)


async def _edit_id(
    bot: Bot,
    chat_id: int,
    message_id: int,
    text: str,
    markup: InlineKeyboardMarkup | None = None,
) -> None:
    try:
        await _retry(
            lambda: bot.edit_message_text(
                text=text,
                chat_id=chat_id,
                message_id=message_id,
                reply_markup=markup,
                link_preview_options=_NO_PREVIEW,
            )
        )
    except TelegramAPIError as exc:
        # The answer is also in the recording's row; a lost edit must not lose the work.
        log.warning("editing message %s:%s failed: %s", chat_id, message_id, exc)


def make_router() -> Router:
    router = Router(name=__name__)
    intake = LinkIntake()
    router.message.register(intake.received, F.text | F.caption, HasLinks())
    # The person who sent the link answers its playlist offer, or an admin does for them.
    router.callback_query.register(
        intake.answered, PlaylistCb.filter(), LiveOffer(), AuthorOrAdmin()
    )
    router.callback_query.register(offer_not_yours, PlaylistCb.filter(), LiveOffer())
    router.callback_query.register(offer_gone, PlaylistCb.filter())
    return router
