"""The review card: choose platforms, correct topics, title and description, publish or discard.

Members may correct; only admins publish and discard. Every button names its recording, which
`OwnRecording` looks up within the chat's workspace before any handler here runs.
"""

from __future__ import annotations

import html
import logging
import re

from aiogram import Bot, F, Router
from aiogram.types import CallbackQuery, Message
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import review as cb
from bot.callbacks.review import TopicCb
from bot.filters import (
    Answering,
    Ask,
    Asks,
    IsAdmin,
    OwnRecording,
    open_prompt,
    refuse_foreign,
    refuse_non_admin,
)
from bot.keyboards import review as keyboards
from jobs import cards, control
from jobs.cards import PlatformCb, ReviewCb
from locales import Translator
from pipeline.templates import MAX_TITLE_CHARS, TemplateError
from pipeline.timecodes import (
    MIN_CHAPTER_SECONDS,
    MIN_CHAPTERS,
    Chapter,
    LineError,
    TopicListError,
    format_hms,
    format_tc,
    parse_tc,
    parse_topic_list,
)
from storage import repo
from storage.files import MediaStore
from storage.models import Recording, RecordingStatus, Workspace

log = logging.getLogger(__name__)

ADMIN_ACTIONS = (cards.PUBLISH, cards.DISCARD)

ASK_LIST = "topics_list"
ASK_RENAME = "topic_title"
ASK_RETIME = "topic_time"
ASK_ADD = "topic_add"
ASK_TITLE = "title"
ASK_DESCRIPTION = "description"

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
    connected = await cards.connected_platforms(session, recording.workspace_id)
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
    connected = await cards.connected_platforms(session, recording.workspace_id)
    platforms = cards.selected_platforms(recording, connected)
    if not platforms:
        await query.answer(_("review.choose_first"), show_alert=True)
        return
    try:
        queued = await control.publish(session, arq, recording, platforms, query.from_user.id)
    except Exception:
        log.exception("recording %s: publishing did not start", recording.id)
        await session.rollback()
        await query.answer(_("review.publish_failed"), show_alert=True)
        return
    names = ", ".join(cards.platform_name(_.lang, p) for p in queued or platforms)
    await query.answer(_("review.publishing", platforms=names))
    await cards.refresh_review_card(
        bot, session, store, recording, _("review.publishing", platforms=names)
    )


async def discard(
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
    await cards.refresh_review_card(bot, session, store, recording)


async def preview(
    query: CallbackQuery, recording: Recording, store: MediaStore, _: Translator
) -> None:
    metadata = cards.load_metadata(store, recording)
    if not metadata or not isinstance(query.message, Message):
        await query.answer(_("review.no_metadata"), show_alert=True)
        return
    await query.answer()
    title = html.escape(str(metadata.get("title") or ""))
    description = html.escape(str(metadata.get("description") or ""))
    text = _("review.preview", title=title, description=description)
    if len(text) > cards.MAX_TEXT:
        room = cards.MAX_TEXT - len(text) + len(description) - 1
        text = _("review.preview", title=title, description=description[:room] + "…")
    await query.message.reply(text)


async def ask_title(
    query: CallbackQuery,
    callback_data: ReviewCb,
    recording: Recording,
    arq: ArqRedis,
    _: Translator,
) -> None:
    if not await _under_review(query, recording, _) or not isinstance(query.message, Message):
        return
    await query.answer()
    if callback_data.action == cards.TITLE:
        kind, text = ASK_TITLE, _("review.ask_title")
    else:
        kind, text = ASK_DESCRIPTION, _("review.ask_description")
    user = query.from_user
    await open_prompt(
        query.message, user.id, user.full_name, text, Ask(kind, rec=recording.id), arq
    )


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
    recording = await _recording_for(message, ask, session, arq, workspace.id, _)
    if recording is None:
        return
    text = (message.text or "").strip()
    if ask.kind == ASK_TITLE:
        text = " ".join(text.split())
        if not text or len(text) > MAX_TITLE_CHARS:
            await message.reply(_("review.title_length", limit=MAX_TITLE_CHARS))
            return
        cards.set_review_state(recording, title=text)
    else:
        cards.set_review_state(recording, description=text)
    try:
        await control.recompose(session, store, recording)
    except TemplateError as exc:
        await session.rollback()
        await message.reply(_("review.compose_failed", reason=html.escape(str(exc))))
        return
    await session.commit()
    await Asks(arq).drop(message.chat.id, message.from_user.id, ask.prompt)  # type: ignore[union-attr]
    await message.reply(_("review.saved"))
    await cards.refresh_review_card(bot, session, store, recording)


# --- the topic editor --------------------------------------------------------------------


def editor_text(
    _: Translator, recording: Recording, chapters: list[Chapter], *, hint: bool = True
) -> str:
    lines = [_("topics_edit.heading", name=html.escape(cards.display_name(recording)))]
    lines += [
        f"{i + 1}. <code>{format_tc(c.start)}</code> {html.escape(cards.clip(c.title, 120))}"
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
    chapters = control.current_chapters(store, recording)
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
    chapters = control.current_chapters(store, recording)
    action, idx = callback_data.action, callback_data.idx
    if action in (cb.PICK, cb.RENAME, cb.RETIME, cb.DELETE) and not 0 <= idx < len(chapters):
        # The list changed since this keyboard was drawn.
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
            reply_markup=keyboards.topic_actions(_, recording.id, idx),
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
        await _save(session, bot, store, recording, changed)
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
        await query.answer()
        current = "\n".join(f"{format_hms(c.start)} {html.escape(c.title)}" for c in chapters)
        text = _(key, number=idx + 1, current=current or "00:00:00 …")
        ask = Ask(kind, rec=recording.id, idx=idx, data={"editor": query.message.message_id})
        await open_prompt(query.message, user.id, user.full_name, text, ask, arq)


async def topics_answered(
    message: Message,
    ask: Ask,
    session: AsyncSession,
    arq: ArqRedis,
    bot: Bot,
    store: MediaStore,
    _: Translator,
    workspace: Workspace,
) -> None:
    recording = await _recording_for(message, ask, session, arq, workspace.id, _)
    if recording is None:
        return
    text = message.text or ""
    chapters = control.current_chapters(store, recording)
    duration = control.video_duration(recording)
    if ask.kind == ASK_LIST:
        try:
            changed = parse_topic_list(text, duration)
        except TopicListError as exc:
            await message.reply(topic_errors(_, exc.errors))
            return
    else:
        changed = _edited(_, ask, chapters, text)
        if isinstance(changed, str):
            await message.reply(changed)
            return
        problem = _check(_, changed, recording)
        if problem:
            await message.reply(problem)
            return
    await _save(session, bot, store, recording, changed)
    await Asks(arq).drop(message.chat.id, message.from_user.id, ask.prompt)  # type: ignore[union-attr]
    await message.reply(_("topics_edit.saved", count=len(changed)))
    editor = ask.data.get("editor")
    if isinstance(editor, int):
        try:
            await bot.edit_message_text(
                text=editor_text(_, recording, changed),
                chat_id=message.chat.id,
                message_id=editor,
                reply_markup=keyboards.topic_list(_, recording.id, changed),
            )
        except Exception as exc:  # the editor may be gone; the card already shows the change
            log.debug("topic editor not updated: %s", exc)


def _edited(_: Translator, ask: Ask, chapters: list[Chapter], text: str) -> list[Chapter] | str:
    """The chapter list after one rename, retime or addition, or what is wrong with the text."""
    text = " ".join(text.split())
    if ask.kind == ASK_ADD:
        match = _ADDED_LINE.match(text)
        if match is None:
            return _("topics_edit.err_add_format")
        try:
            start = parse_tc(match.group(1))
        except ValueError:
            return _("topics_edit.err_time_format")
        added = Chapter(start=start, title=match.group(2).strip())
        return sorted([*chapters, added], key=lambda c: c.start)
    if not 0 <= ask.idx < len(chapters):
        return _("topics_edit.stale")
    old = chapters[ask.idx]
    if ask.kind == ASK_RENAME:
        if not text:
            return _("topics_edit.err_no_title", line=ask.idx + 1)
        replaced = Chapter(start=old.start, title=text)
    else:
        try:
            replaced = Chapter(start=parse_tc(text), title=old.title)
        except ValueError:
            return _("topics_edit.err_time_format")
    changed = [*chapters[: ask.idx], replaced, *chapters[ask.idx + 1 :]]
    return sorted(changed, key=lambda c: c.start)


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
    bot: Bot,
    store: MediaStore,
    recording: Recording,
    chapters: list[Chapter],
) -> None:
    await control.save_chapters(session, store, recording, chapters)
    await session.commit()
    await cards.refresh_review_card(bot, session, store, recording)


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


async def _recording_for(
    message: Message,
    ask: Ask,
    session: AsyncSession,
    arq: ArqRedis,
    workspace_id: int,
    _: Translator,
) -> Recording | None:
    recording = await repo.get_recording(session, workspace_id, ask.rec)
    if recording is None or recording.status is not RecordingStatus.AWAITING_REVIEW:
        await Asks(arq).drop(message.chat.id, message.from_user.id, ask.prompt)  # type: ignore[union-attr]
        await message.reply(_("review.not_under_review"))
        return None
    return recording


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

    members = Router(name=f"{__name__}.members")
    members.callback_query.register(toggle_platform, PlatformCb.filter(), OwnRecording())
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
    members.message.register(topics_answered, Answering(ASK_LIST, ASK_RENAME, ASK_RETIME, ASK_ADD))
    members.message.register(text_answered, Answering(ASK_TITLE, ASK_DESCRIPTION))

    refused = Router(name=f"{__name__}.refused")
    refused.callback_query.register(
        refuse_non_admin, ReviewCb.filter(F.action.in_(ADMIN_ACTIONS)), OwnRecording()
    )
    for data in (ReviewCb, PlatformCb, TopicCb):
        refused.callback_query.register(refuse_foreign, data.filter())

    router.include_routers(admin, members, refused)
    return router
