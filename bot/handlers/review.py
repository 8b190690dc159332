"""The review card: choose platforms, correct topics, title and description, publish or discard.

Members may correct; only admins choose the platforms, publish and discard. Every button
names its recording, which `OwnRecording` looks up within the chat's workspace before any
handler here runs.
"""

from __future__ import annotations

import html
import logging
import re
from dataclasses import dataclass
from typing import Any

from aiogram import Bot, F, Router
from aiogram.types import CallbackQuery, Message
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import review as cb
from bot.callbacks.review import TopicCb
from bot.conversation import Answering, Ask, Conversations, open_prompt
from bot.filters import (
    IsAdmin,
    OwnRecording,
    refuse_foreign,
    refuse_non_admin,
)
from bot.handlers.usage import edit_quietly
from bot.keyboards import review as keyboards
from integrations import telegram_channel
from jobs import cards, control
from jobs.cards import PlatformCb, ReviewCb
from jobs.publish import PlatformRefused, platforms_for
from locales import Translator
from pipeline.templates import MAX_TITLE_CHARS, TemplateError
from pipeline.timecodes import (
    MIN_CHAPTER_SECONDS,
    MIN_CHAPTERS,
    Chapter,
    LineError,
    TopicListError,
    clean_title,
    format_hms,
    format_tc,
    parse_tc,
    parse_topic_list,
)
from storage import repo
from storage.files import MediaStore
from storage.models import Recording, RecordingStatus, Workspace

log = logging.getLogger(__name__)

ADMIN_ACTIONS = (cards.PUBLISH, cards.DISCARD, cards.DISCARD_SURE, cards.DISCARD_KEEP)

ASK_LIST = "topics_list"
ASK_RENAME = "topic_title"
ASK_RETIME = "topic_time"
ASK_ADD = "topic_add"
ASK_TITLE = "title"
ASK_DESCRIPTION = "description"
TEXT_ASKS = (ASK_TITLE, ASK_DESCRIPTION)
# How each topic prompt changes the list, as the audit log names it.
TOPIC_CHANGES = {ASK_LIST: "list", ASK_RENAME: "rename", ASK_RETIME: "time", ASK_ADD: "add"}

_ADDED_LINE = re.compile(r"^\s*(\S+)\s+(.+)$")
_ALERT = 190


# --- the card ------------------------------------------------------------------------------


async def toggle_platform(
    query: CallbackQuery,
    callback_data: PlatformCb,
    recording: Recording,
    session: AsyncSession,
    bot: Bot,
    store: MediaStore,
    _: Translator,
) -> None:
    if not await _under_review(query, recording, _):
        return
    if callback_data.p not in platforms_for(recording):
        # Only a forged or very old button gets here: the card offers no such toggle.
        await query.answer(_needs_picture(_, [callback_data.p]), show_alert=True)
        return
    connected = await cards.offered_platforms(session, recording)
    if callback_data.p not in connected:
        await query.answer(_("review.not_connected"), show_alert=True)
        return
    chosen = cards.selected_platforms(recording, connected)
    if callback_data.p in chosen:
        chosen.remove(callback_data.p)
    else:
        chosen.append(callback_data.p)
    cards.set_review_state(recording, platforms=[p for p in connected if p in chosen])
    await session.commit()
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
    if not await _under_review(query, recording, _):
        return
    connected = await cards.offered_platforms(session, recording)
    platforms = cards.selected_platforms(recording, connected)
    if not platforms:
        await query.answer(_("review.choose_first"), show_alert=True)
        return
    try:
        queued = await control.publish(session, arq, recording, platforms, query.from_user.id)
    except PlatformRefused as exc:
        await session.rollback()
        await query.answer(_needs_picture(_, exc.platforms), show_alert=True)
        return
    except Exception:
        log.exception("recording %s: publishing did not start", recording.id)
        await session.rollback()
        await query.answer(_("review.publish_failed"), show_alert=True)
        return
    names = ", ".join(cards.platform_name(_.lang, p) for p in queued or platforms)
    await query.answer(_("review.publishing", platforms=names))
    # The card speaks the recording's language and shows each platform's line itself.
    await cards.show_publish_started(bot, session, store, recording)


async def discard(query: CallbackQuery, recording: Recording, _: Translator) -> None:
    """Discard asks first: one tap too many is cheap, a lecture thrown away is not."""
    if not await _under_review(query, recording, _):
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
    if not await _under_review(query, recording, _):
        return
    recording.status = RecordingStatus.SKIPPED
    await repo.audit(
        session, recording.workspace_id, query.from_user.id, "discard", f"recording:{recording.id}"
    )
    await session.commit()
    await query.answer(_("review.discarded"))
    if isinstance(query.message, Message):
        await edit_quietly(query.message, _("review.discarded"), None)
    await cards.refresh_review_card(bot, session, store, recording)


async def discard_kept(query: CallbackQuery, recording: Recording, _: Translator) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await edit_quietly(query.message, _("review.discard_kept"), None)


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


# How much of the current title or description a prompt shows (a message holds 4096).
_SHOWN = 3000


async def ask_title(
    query: CallbackQuery,
    callback_data: ReviewCb,
    recording: Recording,
    store: MediaStore,
    arq: ArqRedis,
    _: Translator,
) -> None:
    if not await _under_review(query, recording, _):
        return
    metadata = await cards.fetch_metadata(store, recording) or {}
    if callback_data.action == cards.TITLE:
        kind, text = ASK_TITLE, _("review.ask_title")
        current = str(metadata.get("title") or "")
    else:
        kind, text = ASK_DESCRIPTION, _("review.ask_description")
        # The person's own text, without the chapter list that is added by itself.
        current = str((recording.media.get("review") or {}).get("description") or "")
        current = current or str(metadata.get("description") or "")
    if current:
        shown = current if len(current) <= _SHOWN else current[: _SHOWN - 1] + "…"
        text += "\n\n" + _("review.current", text=html.escape(shown))
    await _prompt(query, arq, text, Ask(kind, rec=recording.id), _)


@dataclass(frozen=True)
class _Saved:
    """An answer taken: what to tell the person, and the topics to show when they changed.

    `saved` is False when the answer was for a topic that is no longer where it was: nothing
    is saved, and the editor shows the list as it is now.
    """

    reply: str
    chapters: list[Chapter] | None = None
    saved: bool = True


async def answered(
    message: Message,
    ask: Ask,
    session: AsyncSession,
    arq: ArqRedis,
    bot: Bot,
    store: MediaStore,
    _: Translator,
    workspace: Workspace,
) -> None:
    """A reply to one of the card's prompts: checked, saved with its audit event, then closed.

    What is wrong with an answer is said and the prompt stays open for another try.
    """
    user = message.from_user
    assert user is not None
    recording = await repo.get_recording(session, workspace.id, ask.rec)
    asks = Conversations(arq)
    if recording is None or recording.status is not RecordingStatus.AWAITING_REVIEW:
        await asks.close(message.chat.id, user.id, ask.prompt)
        await message.reply(_("review.not_under_review"))
        return
    text = message.text or ""
    if ask.kind in TEXT_ASKS:
        outcome = await _text_answer(session, store, recording, ask, text, user.id, _)
    else:
        outcome = await _topics_answer(session, store, recording, ask, text, user.id, _)
    if isinstance(outcome, str):
        await message.reply(outcome)
        return
    await asks.close(message.chat.id, user.id, ask.prompt)
    await message.reply(outcome.reply)
    if outcome.saved:
        await cards.refresh_review_card(bot, session, store, recording)
    editor = ask.data.get("editor")
    if outcome.chapters is not None and isinstance(editor, int):
        try:
            await bot.edit_message_text(
                text=editor_text(_, recording, outcome.chapters),
                chat_id=message.chat.id,
                message_id=editor,
                reply_markup=keyboards.topic_list(_, recording.id, outcome.chapters),
            )
        except Exception as exc:  # the editor may be gone; the card already shows the change
            log.debug("topic editor not updated: %s", exc)


async def _text_answer(
    session: AsyncSession,
    store: MediaStore,
    recording: Recording,
    ask: Ask,
    text: str,
    user_id: int,
    _: Translator,
) -> _Saved | str:
    """A new title or description, composed into metadata.json; or what is wrong with it."""
    text = text.strip()
    if ask.kind == ASK_TITLE:
        text = " ".join(text.split())
        if not text or len(text) > MAX_TITLE_CHARS:
            return _("review.title_length", limit=MAX_TITLE_CHARS)
        cards.set_review_state(recording, title=text)
        action, details = "title_changed", {"title": text}
    else:
        cards.set_review_state(recording, description=text)
        action, details = "description_changed", {"chars": len(text)}
    try:
        await control.recompose(session, store, recording)
    except TemplateError as exc:
        await session.rollback()
        return _("review.compose_failed", reason=html.escape(str(exc)))
    await _audit(session, recording, user_id, action, **details)
    await session.commit()
    return _Saved(_("review.saved"))


async def _topics_answer(
    session: AsyncSession,
    store: MediaStore,
    recording: Recording,
    ask: Ask,
    text: str,
    user_id: int,
    _: Translator,
) -> _Saved | str:
    """A corrected list, or one topic renamed, moved or added; or what is wrong with it."""
    chapters = await control.fetch_chapters(store, recording)
    if ask.kind == ASK_LIST:
        try:
            changed = parse_topic_list(text, control.video_duration(recording))
        except TopicListError as exc:
            return topic_errors(_, exc.errors)
    else:
        if ask.kind != ASK_ADD and not _same_topic(chapters, ask.idx, ask.data.get("at")):
            return _Saved(_("topics_edit.stale"), chapters, saved=False)
        edited = _edited(_, ask, chapters, text)
        if isinstance(edited, str):
            return edited
        problem = _check(_, edited, recording)
        if problem:
            return problem
        changed = edited
    problem = await _save(session, store, recording, changed, user_id, TOPIC_CHANGES[ask.kind], _)
    if problem:
        return problem
    return _Saved(_("topics_edit.saved", count=len(changed)), changed)


# --- the topic editor --------------------------------------------------------------------


def editor_text(
    _: Translator, recording: Recording, chapters: list[Chapter], *, hint: bool = True
) -> str:
    lines = [_("topics_edit.heading", name=html.escape(cards.display_name(recording)))]
    lines += [
        f"{i + 1}. <code>{format_tc(c.start)}</code> {cards.clip(html.escape(c.title), 120)}"
        for i, c in enumerate(chapters)
    ]
    if not chapters:
        lines.append(_("review.no_chapters"))
    if hint:
        lines += ["", _("topics_edit.hint")]
    return cards.fit("\n".join(lines))


async def open_editor(
    query: CallbackQuery, recording: Recording, store: MediaStore, _: Translator
) -> None:
    if not await _under_review(query, recording, _) or not isinstance(query.message, Message):
        return
    await query.answer()
    chapters = await control.fetch_chapters(store, recording)
    await query.message.reply(
        editor_text(_, recording, chapters),
        reply_markup=keyboards.topic_list(_, recording.id, chapters),
    )


async def topic_pressed(
    query: CallbackQuery,
    callback_data: TopicCb,
    recording: Recording,
    session: AsyncSession,
    arq: ArqRedis,
    bot: Bot,
    store: MediaStore,
    _: Translator,
) -> None:
    if not await _under_review(query, recording, _) or not isinstance(query.message, Message):
        return
    chapters = await control.fetch_chapters(store, recording)
    action, idx = callback_data.action, callback_data.idx
    if action in (cb.PICK, cb.RENAME, cb.RETIME, cb.DELETE) and not _same_topic(
        chapters, idx, callback_data.at
    ):
        # The list changed since this keyboard was drawn: the place holds another topic now.
        await query.answer(_("topics_edit.stale"), show_alert=True)
        await _show_editor(query.message, _, recording, chapters)
        return
    user = query.from_user
    if action == cb.PICK:
        await query.answer()
        chapter = chapters[idx]
        await query.message.edit_text(
            _(
                "topics_edit.topic",
                number=idx + 1,
                time=format_tc(chapter.start),
                title=html.escape(chapter.title),
            ),
            reply_markup=keyboards.topic_actions(_, recording.id, idx, chapter),
        )
    elif action == cb.BACK:
        await query.answer()
        await _show_editor(query.message, _, recording, chapters)
    elif action == cb.CLOSE:
        await query.answer()
        await query.message.edit_text(editor_text(_, recording, chapters, hint=False))
    elif action == cb.DELETE:
        changed = chapters[:idx] + chapters[idx + 1 :]
        problem = _check(_, changed, recording)
        if problem:
            await query.answer(_short(problem), show_alert=True)
            return
        problem = await _save(session, store, recording, changed, user.id, "delete", _)
        if problem:
            await query.answer(_short(problem), show_alert=True)
            return
        await cards.refresh_review_card(bot, session, store, recording)
        await query.answer(_("topics_edit.deleted"))
        await _show_editor(query.message, _, recording, changed)
    else:
        prompts = {
            cb.RENAME: (ASK_RENAME, "topics_edit.ask_rename"),
            cb.RETIME: (ASK_RETIME, "topics_edit.ask_time"),
            cb.ADD: (ASK_ADD, "topics_edit.ask_add"),
            cb.LIST: (ASK_LIST, "topics_edit.ask_list"),
        }
        if action not in prompts:
            await query.answer()
            return
        kind, key = prompts[action]
        current = "\n".join(f"{format_hms(c.start)} {html.escape(c.title)}" for c in chapters)
        text = _(key, number=idx + 1, current=current or "00:00:00 …")
        data = {"editor": query.message.message_id, "at": callback_data.at}
        ask = Ask(kind, rec=recording.id, idx=idx, data=data)
        await _prompt(query, arq, text, ask, _)


def _edited(_: Translator, ask: Ask, chapters: list[Chapter], text: str) -> list[Chapter] | str:
    """The chapter list after one rename, retime or addition, or what is wrong with the text.

    For a rename or a retime the caller has checked that `ask.idx` still names its topic.
    """
    text = " ".join(text.split())
    if ask.kind == ASK_ADD:
        match = _ADDED_LINE.match(text)
        if match is None:
            return _("topics_edit.err_add_format")
        try:
            start = parse_tc(match.group(1))
        except ValueError:
            return _("topics_edit.err_time_format")
        title = clean_title(match.group(2))
        if not title:
            return _("topics_edit.err_no_title", line=len(chapters) + 1)
        added = Chapter(start=start, title=title)
        return sorted([*chapters, added], key=lambda c: c.start)
    old = chapters[ask.idx]
    if ask.kind == ASK_RENAME:
        title = clean_title(text)
        if not title:
            return _("topics_edit.err_no_title", line=ask.idx + 1)
        replaced = Chapter(start=old.start, title=title)
    else:
        try:
            replaced = Chapter(start=parse_tc(text), title=old.title)
        except ValueError:
            return _("topics_edit.err_time_format")
    changed = [*chapters[: ask.idx], replaced, *chapters[ask.idx + 1 :]]
    return sorted(changed, key=lambda c: c.start)


def _same_topic(chapters: list[Chapter], idx: int, at: object) -> bool:
    """Whether place `idx` still holds the topic that started at `at` ms when it was shown."""
    return (
        0 <= idx < len(chapters) and isinstance(at, int) and keyboards.start_ms(chapters[idx]) == at
    )


def _check(_: Translator, chapters: list[Chapter], recording: Recording) -> str | None:
    """The same rules as for a typed list; the lines are the topics' numbers."""
    listing = "\n".join(f"{format_hms(c.start)} {c.title}" for c in chapters)
    try:
        parse_topic_list(listing, control.video_duration(recording))
    except TopicListError as exc:
        return topic_errors(_, exc.errors)
    return None


def topic_errors(_: Translator, errors: list[LineError]) -> str:
    lines = [_("topics_edit.errors")]
    for error in errors[:15]:
        reason = _(
            f"topics_edit.err_{error.code}",
            line=error.line_no,
            min=int(MIN_CHAPTER_SECONDS),
            count=MIN_CHAPTERS,
        )
        if error.line_no:
            quoted = html.escape(cards.clip(error.line, 80))
            lines.append(
                _("topics_edit.error_line", line=error.line_no, reason=reason, text=quoted)
            )
        else:
            lines.append(f"• {reason}")
    if len(errors) > 15:
        lines.append("…")
    lines.append(_("topics_edit.errors_hint"))
    return "\n".join(lines)


def _short(text: str) -> str:
    plain = re.sub(r"<[^>]*>", "", html.unescape(text))
    return plain if len(plain) <= _ALERT else plain[: _ALERT - 1] + "…"


async def _save(
    session: AsyncSession,
    store: MediaStore,
    recording: Recording,
    chapters: list[Chapter],
    user_id: int,
    how: str,
    _: Translator,
) -> str | None:
    """Save the chapters with their audit event; or say why the template could not take them.

    A template that fails on the new list leaves topics.json and metadata.json as they were.
    """
    try:
        await control.save_chapters(session, store, recording, chapters)
    except TemplateError as exc:
        return _("review.compose_failed", reason=html.escape(str(exc)))
    await _audit(session, recording, user_id, "topics_changed", how=how, count=len(chapters))
    await session.commit()
    return None


async def _audit(
    session: AsyncSession, recording: Recording, user_id: int, action: str, **details: Any
) -> None:
    await repo.audit(
        session, recording.workspace_id, user_id, action, f"recording:{recording.id}", **details
    )


async def _prompt(query: CallbackQuery, arq: ArqRedis, text: str, ask: Ask, _: Translator) -> None:
    """Ask the presser for text in the chat; their reply reaches `answered`."""
    await query.answer()
    if isinstance(query.message, Message):
        user = query.from_user
        await open_prompt(query.message, user.id, user.full_name, text, ask, arq, _)


def _needs_picture(_: Translator, platforms: list[str]) -> str:
    names = ", ".join(cards.platform_name(_.lang, p) for p in platforms)
    return _("review.needs_picture", platforms=names)


async def _show_editor(
    message: Message, _: Translator, recording: Recording, chapters: list[Chapter]
) -> None:
    await message.edit_text(
        editor_text(_, recording, chapters),
        reply_markup=keyboards.topic_list(_, recording.id, chapters),
    )


async def _under_review(query: CallbackQuery, recording: Recording, _: Translator) -> bool:
    if recording.status is RecordingStatus.AWAITING_REVIEW:
        return True
    await query.answer(_("review.not_under_review"), show_alert=True)
    return False


def make_router() -> Router:
    router = Router(name=__name__)

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

    # What is published, and where, is the admins' choice: they publish it.
    admin.callback_query.register(toggle_platform, PlatformCb.filter(), OwnRecording())

    members = Router(name=f"{__name__}.members")
    members.callback_query.register(
        ask_title, ReviewCb.filter(F.action.in_({cards.TITLE, cards.DESCRIPTION})), OwnRecording()
    )
    members.callback_query.register(
        open_editor, ReviewCb.filter(F.action == cards.TOPICS), OwnRecording()
    )
    members.callback_query.register(
        preview, ReviewCb.filter(F.action == cards.PREVIEW), OwnRecording()
    )
    members.callback_query.register(topic_pressed, TopicCb.filter(), OwnRecording())
    members.message.register(answered, Answering(*TEXT_ASKS, *TOPIC_CHANGES))

    refused = Router(name=f"{__name__}.refused")
    refused.callback_query.register(
        refuse_non_admin, ReviewCb.filter(F.action.in_(ADMIN_ACTIONS)), OwnRecording()
    )
    refused.callback_query.register(refuse_non_admin, PlatformCb.filter(), OwnRecording())
    for data in (ReviewCb, PlatformCb, TopicCb):
        refused.callback_query.register(refuse_foreign, data.filter())

    router.include_routers(admin, members, refused)
    return router
