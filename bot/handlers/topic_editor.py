"""The topic editor under a review card: members correct the chapter list.

Rules:
- Anyone in the workspace may correct topics (the card's `OwnRecording` filter finds the
  recording within the chat's workspace first); a press from another workspace is refused.
  `bot.handlers.review` includes `router()` after the card's own routers.
- A topic is pressed by its place and the time it started when the list was drawn: when the
  list changed since, the place may hold another topic, so nothing is changed and the
  editor shows the list as it is now. A prompt's answer is checked the same way.
- Every changed list keeps the rules of a typed one (`pipeline.timecodes.parse_topic_list`):
  what breaks them is listed with the topics' numbers and nothing is saved.
- A list the template cannot render is not saved either; the reason is said. A saved one is
  audited (`jobs.review_actions.change_chapters`), and the card and the editor show it.
"""

from __future__ import annotations

import html
import logging
import re
from dataclasses import dataclass

from aiogram import Bot, F, Router
from aiogram.types import CallbackQuery, Message
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import review as cb
from bot.callbacks.review import TopicCb
from bot.conversation import Answering, Ask, Conversations
from bot.filters import OwnRecording, refuse_foreign
from bot.keyboards import review as keyboards
from bot.review_chat import answered_recording, prompt, short, under_review
from jobs import cards, control, review_actions
from jobs.cards import ReviewCb
from locales import Translator
from pipeline.templates import TemplateError
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
from storage.files import MediaStore
from storage.models import Recording, Workspace

log = logging.getLogger(__name__)

ASK_LIST = "topics_list"
ASK_RENAME = "topic_title"
ASK_RETIME = "topic_time"
ASK_ADD = "topic_add"
# How each topic prompt changes the list, as the audit log names it.
TOPIC_CHANGES = {ASK_LIST: "list", ASK_RENAME: "rename", ASK_RETIME: "time", ASK_ADD: "add"}

_ADDED_LINE = re.compile(r"^\s*(\S+)\s+(.+)$")


def router() -> Router:
    members = Router(name=__name__)
    members.callback_query.register(
        open_editor, ReviewCb.filter(F.action == cards.TOPICS), OwnRecording()
    )
    members.callback_query.register(topic_pressed, TopicCb.filter(), OwnRecording())
    members.message.register(topics_answered, Answering(*TOPIC_CHANGES))
    members.callback_query.register(refuse_foreign, TopicCb.filter())
    return members


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
    if not await under_review(query, recording, _) or not isinstance(query.message, Message):
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
    if not await under_review(query, recording, _) or not isinstance(query.message, Message):
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
            await query.answer(short(problem), show_alert=True)
            return
        problem = await _save(session, store, recording, changed, user.id, "delete", _)
        if problem:
            await query.answer(short(problem), show_alert=True)
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
        await prompt(query, arq, text, ask, _)


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


async def _show_editor(
    message: Message, _: Translator, recording: Recording, chapters: list[Chapter]
) -> None:
    await message.edit_text(
        editor_text(_, recording, chapters),
        reply_markup=keyboards.topic_list(_, recording.id, chapters),
    )


@dataclass(frozen=True)
class _Saved:
    """An answer taken: what to tell the person, and the topics to show.

    `saved` is False when the answer was for a topic that is no longer where it was: nothing
    is saved, and the editor shows the list as it is now.
    """

    reply: str
    chapters: list[Chapter]
    saved: bool = True


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
    """A reply to a topic prompt: checked, saved with its audit event, then closed.

    What is wrong with an answer is said and the prompt stays open for another try.
    """
    recording = await answered_recording(message, ask, session, arq, workspace, _)
    if recording is None:
        return
    user = message.from_user
    assert user is not None
    outcome = await _topics_answer(session, store, recording, ask, message.text or "", user.id, _)
    if isinstance(outcome, str):
        await message.reply(outcome)
        return
    await Conversations(arq).close(message.chat.id, user.id, ask.prompt)
    await message.reply(outcome.reply)
    if outcome.saved:
        await cards.refresh_review_card(bot, session, store, recording)
    editor = ask.data.get("editor")
    if isinstance(editor, int):
        try:
            await bot.edit_message_text(
                text=editor_text(_, recording, outcome.chapters),
                chat_id=message.chat.id,
                message_id=editor,
                reply_markup=keyboards.topic_list(_, recording.id, outcome.chapters),
            )
        except Exception as exc:  # the editor may be gone; the card already shows the change
            log.debug("topic editor not updated: %s", exc)


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


async def _save(
    session: AsyncSession,
    store: MediaStore,
    recording: Recording,
    chapters: list[Chapter],
    user_id: int,
    how: str,
    _: Translator,
) -> str | None:
    """Save the chapters; or say why the template could not take them."""
    try:
        await review_actions.change_chapters(session, store, recording, chapters, user_id, how)
    except TemplateError as exc:
        return _("review.compose_failed", reason=html.escape(str(exc)))
    return None
