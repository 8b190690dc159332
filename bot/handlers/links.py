"""Recordings arriving as links: the words around looking at a link and queueing its videos.

A link is looked at before anything is queued (`jobs.link_intake`: bounded in time, bytes and
how many at once), so a refusal reaches the person within seconds with its reason. A single
video is admitted at once (`jobs.admission`: quotas checked first); a playlist is offered for
confirmation with its size, and its videos are admitted one by one once the sender (or an
admin) accepts, stopping at the first that does not fit.

In a group only messages meant for the bot are taken (`HasLinks`).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
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
from bot.handlers.usage import refusal_text
from bot.keyboards import drive as drive_keyboards
from bot.keyboards import links as keyboards
from integrations.links import LinkError, Playlist, Video
from jobs import admission, link_intake, yandex_intake
from jobs.link_intake import LinkInspector, PlaylistOffer
from leap.settings import Settings
from locales import Translator, gettext
from locales.format import duration, size
from storage import quotas
from storage.crypto import SecretBox
from storage.files import MediaStore
from storage.models import Recording, Workspace

log = logging.getLogger(__name__)

# Links taken from one message; the rest are named as left out.
MAX_LINKS = 5

# Telegram marks http(s) addresses as entities; other schemes are found here so that they
# are refused with a reason instead of being taken for chatter (``disk:/`` paths name places
# on the connected Yandex Disk).
_OTHER_SCHEME = re.compile(r"(?i)(?<![\w.+-])(?:[a-z][a-z0-9+.-]*://|data:|disk:/)[^\s<>\"']+")
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
    """The link handlers, and the inspector whose slots they share."""

    def __init__(self) -> None:
        self.inspector = LinkInspector()

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
        secrets: SecretBox | None = None,
    ) -> None:
        # Nothing is written while the links are looked at; a long look must not hold the
        # database (SQLite locks it for every writer while a transaction is open).
        await session.commit()
        if not admission.transcribable(workspace, settings):
            await message.reply(_("error.stt_unsupported_language"))
            return
        if len(urls) > MAX_LINKS:
            await message.reply(_("links.too_many", limit=MAX_LINKS))
        for url in urls[:MAX_LINKS]:
            await self._take(
                message, url, session, workspace, settings, store, arq, bot, lang, _, secrets
            )

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
        secrets: SecretBox | None = None,
    ) -> None:
        shown = html.escape(_shorten(url))
        reply = await message.reply(
            _("links.checking", url=shown), link_preview_options=_NO_PREVIEW
        )
        try:
            # Private Disk paths, then Drive files, then everything else.
            found = await yandex_intake.inspect(
                self.inspector,
                url,
                settings,
                session,
                workspace.id,
                secrets,
                arq,
                user_id=message.from_user.id if message.from_user else None,
            )
        except LinkError as exc:
            # A private Drive file: the refusal offers to add Drive to the Google connection.
            markup = drive_keyboards.connect_drive(_) if exc.code == "drive_connect" else None
            text = _("links.refused", url=shown, reason=reason(exc, lang))
            await _edit(bot, reply, text, markup)
            return
        except Exception:
            log.exception("looking at a link failed")
            await _edit(bot, reply, _("links.refused", url=shown, reason=_("error.link_failed")))
            return
        if isinstance(found, Playlist):
            await _offer(message, reply, found, workspace, settings, arq, bot, lang, _)
            return
        new = link_intake.new_recording(
            workspace,
            settings,
            found,
            lang=lang,
            chat_id=message.chat.id,
            thread_id=message.message_thread_id if message.is_topic_message else None,
            user_id=message.from_user.id if message.from_user else None,
            progress_id=reply.message_id,
        )

        async def queued(recording: Recording) -> None:
            # The "looking at it" message becomes the recording's progress message.
            await _edit(bot, reply, _("intake.queued", name=html.escape(found.title)))

        admitted = await admission.admit(session, arq, store, settings, new, queued)
        if isinstance(admitted, quotas.Refusal):
            refused = refusal_text(_, admitted)
            await _edit(bot, reply, _("links.refused", url=shown, reason=refused))

    async def answered(
        self,
        query: CallbackQuery,
        callback_data: PlaylistCb,
        offer: PlaylistOffer,
        session: AsyncSession,
        workspace: Workspace,
        settings: Settings,
        store: MediaStore,
        arq: ArqRedis,
        bot: Bot,
    ) -> None:
        prompt = query.message
        assert prompt is not None  # LiveOffer found the offer by this message
        # Two quick presses: only the one that removes the offer acts on it.
        if not await link_intake.take_offer(arq, prompt.chat.id, prompt.message_id):
            await query.answer()
            return
        await query.answer()
        lang = offer.lang
        title = html.escape(offer.title)
        if callback_data.action != cb.ACCEPT:
            text = gettext(lang, "links.playlist_declined", title=title)
            await _edit_id(bot, prompt.chat.id, prompt.message_id, text)
            return
        queued = 0
        refusal: str | None = None
        try:
            for video in offer.videos:
                new = link_intake.new_recording(
                    workspace,
                    settings,
                    video,
                    lang=lang,
                    chat_id=prompt.chat.id,
                    thread_id=offer.thread_id,
                    user_id=offer.user_id,
                    progress_id=None,
                )
                announce = _announcer(bot, offer, video)
                admitted = await admission.admit(session, arq, store, settings, new, announce)
                if isinstance(admitted, quotas.Refusal):
                    refusal = refusal_text(Translator(lang), admitted)
                    break
                queued += 1
        finally:
            # The offer is gone from Redis already: whatever happened above, the message
            # says how many of its videos were queued, and loses its buttons.
            done = gettext(lang, "links.playlist_queued", title=title, count=queued)
            text = f"{done}\n{refusal}" if refusal else done
            await _edit_id(bot, prompt.chat.id, prompt.message_id, text)


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
    """Ask whether to queue a playlist, saying how much it is and what is left out."""
    limit = link_intake.length_limit(settings)
    fitting = link_intake.fitting(playlist, settings)
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
    offer = PlaylistOffer(
        workspace_id=workspace.id,
        user_id=message.from_user.id if message.from_user else 0,
        lang=lang,
        reply_to=message.message_id,
        thread_id=message.message_thread_id if message.is_topic_message else None,
        title=playlist.title,
        videos=fitting,
    )
    await link_intake.save_offer(arq, reply.chat.id, reply.message_id, offer)
    await _edit(bot, reply, "\n".join(lines), keyboards.playlist_offer(_))


def _announcer(bot: Bot, offer: PlaylistOffer, video: Video) -> admission.Announce:
    """Posts the progress message of one video of a playlist, in answer to the link.

    Without it (Telegram would not take it) the video is queued all the same: the worker
    reports on it without a message of its own rather than the rest of the playlist being lost.
    """

    async def announce(recording: Recording) -> int | None:
        text = gettext(offer.lang, "intake.queued", name=html.escape(video.title))
        reply_to = ReplyParameters(message_id=offer.reply_to, allow_sending_without_reply=True)
        try:
            sent = await _retry(
                lambda: bot.send_message(
                    recording.chat_id,
                    text,
                    message_thread_id=offer.thread_id,
                    reply_parameters=reply_to,
                )
            )
        except TelegramAPIError as exc:
            log.warning(
                "no progress message for a playlist video in chat %s: %s", recording.chat_id, exc
            )
            return None
        return sent.message_id

    return announce


# --- answers to a playlist offer ---------------------------------------------------------


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
        offer = await link_intake.find_offer(arq, prompt.chat.id, prompt.message_id)
        if offer is None or offer.workspace_id != workspace.id:
            return False
        return {"offer": offer, "author": offer.user_id}


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


# --- Telegram --------------------------------------------------------------------------------


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
    offers = Router(name=f"{__name__}.offers")
    offers.callback_query.filter(PlaylistCb.filter())
    offers.callback_query.register(intake.answered, LiveOffer(), AuthorOrAdmin())
    offers.callback_query.register(offer_not_yours, LiveOffer())
    offers.callback_query.register(offer_gone)

    router.include_router(offers)
    return router
