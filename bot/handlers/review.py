"""The review card: choose platforms, correct the title and description, publish or discard.

Permissions are the routers' shape, each router built right above the handlers it carries:
only admins get past `_admin_router()`'s filter, so only they choose the platforms, publish
and discard; members preview and correct, and have the chapters made again, fewer or more
(`_members_router()`, and the topic editor in `bot.handlers.topic_editor`); everyone else
who presses a card's button reaches the refusals. Every button names its recording, which
`OwnRecording` looks up within the chat's workspace before any handler here runs.

The handlers check and answer; what a press changes is `jobs.review_actions`', the card
itself `jobs.cards`'.
"""

from __future__ import annotations

import html
import logging

from aiogram import Bot, F, Router
from aiogram.types import CallbackQuery, Message
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession

from bot.conversation import Answering, Ask, Conversations
from bot.filters import IsAdmin, OwnRecording, refuse_foreign, refuse_non_admin
from bot.handlers import topic_editor
from bot.handlers.usage import edit_quietly
from bot.keyboards import review as keyboards
from bot.review_chat import answered_recording, prompt, under_review
from integrations import telegram_channel
from jobs import cards, review_actions
from jobs.cards import PlatformCb, ReviewCb
from jobs.cards.callbacks import SUMMARY, GranularityCb
from jobs.cards.review_text import granularity
from jobs.publish import PlatformRefused
from jobs.review_actions import MAX_SUMMARY_CHARS, NothingChosen, PlatformChoice
from locales import Translator
from pipeline.templates import MAX_TITLE_CHARS, TemplateError
from storage.files import MediaStore
from storage.models import Recording, Workspace

log = logging.getLogger(__name__)

ADMIN_ACTIONS = (cards.PUBLISH, cards.DISCARD, cards.DISCARD_SURE, cards.DISCARD_KEEP)

ASK_TITLE = "title"
ASK_DESCRIPTION = "description"
ASK_SUMMARY = "summary"
TEXT_ASKS = (ASK_TITLE, ASK_DESCRIPTION, ASK_SUMMARY)
_TEXT_ACTIONS = {cards.TITLE, cards.DESCRIPTION, SUMMARY}

# How much of the current title or description a prompt shows (a message holds 4096).
_SHOWN = 3000


def make_router() -> Router:
    router = Router(name=__name__)
    router.include_routers(
        _admin_router(), _members_router(), topic_editor.router(), _refused_router()
    )
    return router


# --- admins: platforms, publish, discard ---------------------------------------------------


def _admin_router() -> Router:
    """Only admins get past this router's filter: what is published, and where, is theirs."""
    admin = Router(name=f"{__name__}.admin")
    admin.callback_query.filter(IsAdmin())
    admin.callback_query.register(
        publish, ReviewCb.filter(F.action == cards.PUBLISH), OwnRecording()
    )
    admin.callback_query.register(
        discard, ReviewCb.filter(F.action == cards.DISCARD), OwnRecording()
    )
    admin.callback_query.register(
        discard_confirmed, ReviewCb.filter(F.action == cards.DISCARD_SURE), OwnRecording()
    )
    admin.callback_query.register(
        discard_kept, ReviewCb.filter(F.action == cards.DISCARD_KEEP), OwnRecording()
    )
    admin.callback_query.register(toggle_platform, PlatformCb.filter(), OwnRecording())
    return admin


async def toggle_platform(
    query: CallbackQuery,
    callback_data: PlatformCb,
    recording: Recording,
    session: AsyncSession,
    bot: Bot,
    store: MediaStore,
    _: Translator,
) -> None:
    if not await under_review(query, recording, _):
        return
    choice = await review_actions.toggle_platform(session, recording, callback_data.p)
    if choice is PlatformChoice.UNFIT:
        # Only a forged or very old button gets here: the card offers no such toggle.
        await query.answer(_needs_picture(_, [callback_data.p]), show_alert=True)
        return
    if choice is PlatformChoice.NOT_CONNECTED:
        await query.answer(_("review.not_connected"), show_alert=True)
        return
    await query.answer()
    await cards.refresh_review_card(bot, session, store, recording)


async def publish(
    query: CallbackQuery,
    recording: Recording,
    session: AsyncSession,
    arq: ArqRedis,
    bot: Bot,
    store: MediaStore,
    _: Translator,
) -> None:
    if not await under_review(query, recording, _):
        return
    try:
        platforms = await review_actions.publish(session, arq, recording, query.from_user.id)
    except NothingChosen:
        await query.answer(_("review.choose_first"), show_alert=True)
        return
    except PlatformRefused as exc:
        await query.answer(_needs_picture(_, exc.platforms), show_alert=True)
        return
    except Exception:
        log.exception("recording %s: publishing did not start", recording.id)
        await query.answer(_("review.publish_failed"), show_alert=True)
        return
    names = ", ".join(cards.platform_name(_.lang, p) for p in platforms)
    await query.answer(_("review.publishing", platforms=names))
    # The card speaks the recording's language and shows each platform's line itself.
    await cards.show_publish_started(bot, session, store, recording)


async def discard(query: CallbackQuery, recording: Recording, _: Translator) -> None:
    """Discard asks first: one tap too many is cheap, a lecture thrown away is not."""
    if not await under_review(query, recording, _):
        return
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.reply(
            _("review.discard_confirm", name=html.escape(cards.display_name(recording))),
            reply_markup=keyboards.confirm_discard(_, recording.id),
        )


async def discard_confirmed(
    query: CallbackQuery,
    recording: Recording,
    session: AsyncSession,
    bot: Bot,
    store: MediaStore,
    _: Translator,
) -> None:
    if not await under_review(query, recording, _):
        return
    await review_actions.discard(session, recording, query.from_user.id)
    await query.answer(_("review.discarded"))
    if isinstance(query.message, Message):
        await edit_quietly(query.message, _("review.discarded"), None)
    await cards.refresh_review_card(bot, session, store, recording)


async def discard_kept(query: CallbackQuery, recording: Recording, _: Translator) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await edit_quietly(query.message, _("review.discard_kept"), None)


def _needs_picture(_: Translator, platforms: list[str]) -> str:
    names = ", ".join(cards.platform_name(_.lang, p) for p in platforms)
    return _("review.needs_picture", platforms=names)


# --- members: preview, title and description ----------------------------------------------


def _members_router() -> Router:
    """Everyone in the workspace may look at what will be published and correct its texts."""
    members = Router(name=f"{__name__}.members")
    members.callback_query.register(
        ask_title, ReviewCb.filter(F.action.in_(_TEXT_ACTIONS)), OwnRecording()
    )
    members.callback_query.register(
        preview, ReviewCb.filter(F.action == cards.PREVIEW), OwnRecording()
    )
    members.callback_query.register(regranulate, GranularityCb.filter(), OwnRecording())
    members.message.register(text_answered, Answering(*TEXT_ASKS))
    return members


async def regranulate(
    query: CallbackQuery,
    callback_data: GranularityCb,
    recording: Recording,
    session: AsyncSession,
    store: MediaStore,
    arq: ArqRedis,
    bot: Bot,
    _: Translator,
) -> None:
    """Fewer, usual or more chapters: only the topics stage runs again, and the card is redrawn."""
    if not await under_review(query, recording, _):
        return
    if callback_data.g == granularity(recording):
        await query.answer(_("granularity.already"))
        return
    try:
        await review_actions.rechapter(session, arq, recording, callback_data.g, query.from_user.id)
    except ValueError:
        await query.answer()
        return
    await query.answer(_("granularity.started"))
    await cards.refresh_review_card(bot, session, store, recording)


async def preview(
    query: CallbackQuery,
    recording: Recording,
    session: AsyncSession,
    store: MediaStore,
    _: Translator,
) -> None:
    """What each chosen platform will get: YouTube and VK the title and the description,
    the channel its caption, the file the archive's own texts."""
    metadata = await cards.fetch_metadata(store, recording)
    if not metadata or not isinstance(query.message, Message):
        await query.answer(_("review.no_metadata"), show_alert=True)
        return
    await query.answer()
    chosen = cards.selected_platforms(recording, await cards.offered_platforms(session, recording))
    title = html.escape(str(metadata.get("title") or ""))
    description = html.escape(str(metadata.get("description") or ""))
    names = ", ".join(cards.platform_name(_.lang, p) for p in chosen if p != "telegram")
    parts = []
    if names or not chosen:
        parts.append(_("review.preview_for", platforms=names or _("review.platform_export")))
        parts.append(_("review.preview", title=title, description="{description}"))
    if "telegram" in chosen:
        caption = telegram_channel.caption(
            str(metadata.get("title") or ""), cards.metadata_chapters(metadata)
        )
        parts.append(_("review.preview_for", platforms=_("review.platform_telegram")))
        parts.append(caption)
    text = "\n\n".join(parts)
    room = cards.MAX_TEXT - len(text.replace("{description}", ""))
    if len(description) > room:
        description = description[: max(room - 1, 0)] + "…"
    await query.message.reply(text.replace("{description}", description, 1))


async def ask_title(
    query: CallbackQuery,
    callback_data: ReviewCb,
    recording: Recording,
    store: MediaStore,
    arq: ArqRedis,
    _: Translator,
) -> None:
    if not await under_review(query, recording, _):
        return
    metadata = await cards.fetch_metadata(store, recording) or {}
    if callback_data.action == cards.TITLE:
        kind, text = ASK_TITLE, _("review.ask_title")
        current = str(metadata.get("title") or "")
    elif callback_data.action == SUMMARY:
        kind, text = ASK_SUMMARY, _("review.ask_summary")
        current = str((recording.media.get("summary") or {}).get("text") or "")
    else:
        kind, text = ASK_DESCRIPTION, _("review.ask_description")
        # The person's own text, without the chapter list that is added by itself.
        current = str((recording.media.get("review") or {}).get("description") or "")
        current = current or str(metadata.get("description") or "")
    if current:
        shown = current if len(current) <= _SHOWN else current[: _SHOWN - 1] + "…"
        text += "\n\n" + _("review.current", text=html.escape(shown))
    await prompt(query, arq, text, Ask(kind, rec=recording.id), _)


async def text_answered(
    message: Message,
    ask: Ask,
    session: AsyncSession,
    arq: ArqRedis,
    bot: Bot,
    store: MediaStore,
    _: Translator,
    workspace: Workspace,
) -> None:
    """A new title, description or summary: checked, composed into metadata.json, then closed.

    What is wrong with an answer is said and the prompt stays open for another try.
    """
    recording = await answered_recording(message, ask, session, arq, workspace, _)
    if recording is None:
        return
    user = message.from_user
    assert user is not None
    text = (message.text or "").strip()
    try:
        if ask.kind == ASK_TITLE:
            text = " ".join(text.split())
            if not text or len(text) > MAX_TITLE_CHARS:
                await message.reply(_("review.title_length", limit=MAX_TITLE_CHARS))
                return
            await review_actions.change_title(session, store, recording, text, user.id)
        elif ask.kind == ASK_SUMMARY:
            if not text or len(text) > MAX_SUMMARY_CHARS:
                await message.reply(_("review.summary_length", limit=MAX_SUMMARY_CHARS))
                return
            await review_actions.change_summary(session, store, recording, text, user.id)
        else:
            await review_actions.change_description(session, store, recording, text, user.id)
    except TemplateError as exc:
        await message.reply(_("review.compose_failed", reason=html.escape(str(exc))))
        return
    await Conversations(arq).close(message.chat.id, user.id, ask.prompt)
    await message.reply(_("review.saved"))
    await cards.refresh_review_card(bot, session, store, recording)


# --- refusals --------------------------------------------------------------------------------


def _refused_router() -> Router:
    refused = Router(name=f"{__name__}.refused")
    refused.callback_query.register(
        refuse_non_admin, ReviewCb.filter(F.action.in_(ADMIN_ACTIONS)), OwnRecording()
    )
    refused.callback_query.register(refuse_non_admin, PlatformCb.filter(), OwnRecording())
    for data in (ReviewCb, PlatformCb, GranularityCb):
        refused.callback_query.register(refuse_foreign, data.filter())
    return refused
