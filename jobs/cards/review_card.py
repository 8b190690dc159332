"""Posting and redrawing the review card, from a worker or from the bot after a person acts.

- The card is posted once the last stage is done, replying to the progress message, with
  the subtitles file under it; its message id is kept in the review state, and a card that
  is gone from the chat is posted again rather than edited. When the stages ran again for a
  recording that has a card (fewer or more chapters), that card is edited in place.
- Everything here takes a Bot, a session and the media store rather than a worker's context
  where it can, so the bot redraws the very cards the workers post.
- A template's or workspace's auto-publish starts publishing as the card is posted, unless
  the recording has quality warnings or a named platform cannot take its sound alone: then
  the card says why it waits. In a group, the admins are named when a card waits for them.
- The card outlives Publish: while the publish jobs run it carries one line per platform,
  paced with every other edit of the message (jobs.progress); once every platform has an
  outcome it shows each one with the buttons that still apply, as the message's last word.
"""

from __future__ import annotations

import asyncio
import html
import logging
from pathlib import Path
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramRetryAfter
from aiogram.types import FSInputFile, InlineKeyboardMarkup, Message, ReplyParameters
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession

from jobs import control, files
from jobs.cards.platforms import (
    default_platforms,
    lost_for_sound,
    offered_platforms,
    platform_name,
    review_state,
    selected_platforms,
    set_review_state,
)
from jobs.cards.progress_card import forget_clocks, render
from jobs.cards.review_text import (
    fetch_metadata,
    outcome_keyboard,
    quality_flags,
    review_keyboard,
    review_text,
)
from jobs.context import WorkerDeps
from jobs.progress import ProgressHub
from jobs.publish.outcome import outcome_lines
from locales import gettext
from storage import repo
from storage.files import MediaStore
from storage.models import Recording, RecordingStatus, Workspace, WorkspaceKind

log = logging.getLogger(__name__)

# Seconds of Telegram's flood control a card edited in place waits out; longer drops the edit.
MAX_CARD_WAIT = 30


async def card_parts(
    session: AsyncSession, store: MediaStore, recording: Recording, note: str | None = None
) -> tuple[str, InlineKeyboardMarkup | None]:
    connected = await offered_platforms(session, recording)
    selected = selected_platforms(recording, connected)
    metadata = await fetch_metadata(store, recording)
    if recording.status is RecordingStatus.AWAITING_REVIEW:
        return (
            review_text(recording, metadata, connected, selected, note),
            review_keyboard(recording, connected, selected),
        )
    rows = await repo.publications(session, recording.workspace_id, recording.id)
    return (
        review_text(recording, metadata, connected, selected, note, outcome_lines(recording, rows)),
        outcome_keyboard(recording, rows),
    )


async def show_publish_started(
    bot: Bot, session: AsyncSession, store: MediaStore, recording: Recording
) -> None:
    """The card right after Publish: each platform's line instead of the review buttons.

    A publish job quick enough to end before this edit landed has drawn the outcome already,
    and this edit would hide it: the card is drawn once more from what is stored by then.
    """
    await refresh_review_card(bot, session, store, recording)
    await session.commit()
    await session.refresh(recording)
    if recording.status is not RecordingStatus.UPLOADING:
        await refresh_review_card(bot, session, store, recording)


def show_publishing(
    hub: ProgressHub, recording: Recording, metadata: dict[str, Any], lines: str
) -> None:
    """A publish job's per-platform lines on the card, paced like the progress message."""
    card_id = review_state(recording).get("card")
    if recording.chat_id is None or not card_id:
        return
    text = review_text(recording, metadata, [], [], publishing=lines.split("\n"))
    hub.message(recording.chat_id, int(card_id)).update(text)


async def publishing_ended(deps: WorkerDeps, recording: Recording) -> None:
    """Every platform has an outcome: the card shows them, with the buttons that still apply."""
    card_id = review_state(recording).get("card")
    if recording.chat_id is None or not card_id:
        return
    # The last line lands first, if Telegram allows it soon; the outcome is read after it.
    await deps.progress.finish(recording.chat_id, int(card_id))
    async with deps.sessions() as session:
        current = await repo.get_recording(session, recording.workspace_id, recording.id)
        if current is None:
            return
        text, markup = await card_parts(session, deps.store, current)
    # A line still waiting out flood control is older than the outcome: it is dropped.
    await deps.progress.settle(recording.chat_id, int(card_id), text, markup)


async def send_review_card(
    bot: Bot,
    session: AsyncSession,
    store: MediaStore,
    recording: Recording,
    *,
    note: str | None = None,
    with_subtitles: bool = False,
) -> Message | None:
    """Post the card (replying to the progress message) and remember where it is."""
    if recording.chat_id is None:
        return None
    state = review_state(recording)
    if "platforms" not in state:
        workspace = await session.get(Workspace, recording.workspace_id)
        connected = await offered_platforms(session, recording)
        set_review_state(recording, platforms=default_platforms(recording, workspace, connected))
    text, markup = await card_parts(session, store, recording, note)
    reply = (
        ReplyParameters(message_id=recording.progress_message_id, allow_sending_without_reply=True)
        if recording.progress_message_id
        else None
    )
    card = await bot.send_message(
        recording.chat_id,
        text,
        reply_markup=markup,
        message_thread_id=recording.thread_id,
        reply_parameters=reply,
    )
    set_review_state(recording, card=card.message_id)
    await session.commit()
    if with_subtitles:
        await _send_subtitles(bot, store, recording, card.message_id)
    return card


async def _send_subtitles(bot: Bot, store: MediaStore, recording: Recording, card_id: int) -> None:
    path = await store.fetch(recording.workspace_id, recording.id, files.SRT)
    if not path.is_file() or path.stat().st_size == 0:
        return
    stem = Path(recording.source_name or "").stem or f"recording-{recording.id}"
    try:
        await bot.send_document(
            recording.chat_id,  # type: ignore[arg-type]
            FSInputFile(path, filename=f"{stem[:60]}.srt"),
            caption=gettext(recording.language, "review.subtitles"),
            message_thread_id=recording.thread_id,
            reply_parameters=ReplyParameters(message_id=card_id, allow_sending_without_reply=True),
        )
    except TelegramAPIError as exc:
        log.warning("recording %s: subtitles not sent: %s", recording.id, exc.message)


async def refresh_review_card(
    bot: Bot,
    session: AsyncSession,
    store: MediaStore,
    recording: Recording,
    note: str | None = None,
) -> None:
    """Edit the card in place after a change; a card that is gone is posted again."""
    card_id = review_state(recording).get("card")
    if recording.chat_id is None:
        return
    if not card_id:
        await send_review_card(bot, session, store, recording, note=note)
        return
    text, markup = await card_parts(session, store, recording, note)
    try:
        await bot.edit_message_text(
            text=text, chat_id=recording.chat_id, message_id=card_id, reply_markup=markup
        )
    except TelegramBadRequest as exc:
        if "not modified" in exc.message:
            return
        if "not found" in exc.message:
            await send_review_card(bot, session, store, recording, note=note)
            return
        log.warning("recording %s: card edit refused: %s", recording.id, exc.message)


async def pipeline_finished(
    deps: WorkerDeps, recording: Recording, summaries: dict[str, str]
) -> None:
    """The last stage is done: settle the progress message, then ask for a review."""
    forget_clocks(recording.id)
    if recording.chat_id is not None and recording.progress_message_id is not None:
        progress = deps.progress.message(recording.chat_id, recording.progress_message_id)
        progress.update(render(recording, summaries))
        await deps.progress.finish(recording.chat_id, recording.progress_message_id)
    if recording.status is not RecordingStatus.AWAITING_REVIEW:
        return
    async with deps.sessions() as session:
        current = await repo.get_recording(session, recording.workspace_id, recording.id)
        if current is None or current.status is not RecordingStatus.AWAITING_REVIEW:
            return
        try:
            await review_ready(deps.bot, session, deps.redis, deps.store, current)
        except TelegramAPIError as exc:
            log.warning("recording %s: review card not posted: %s", recording.id, exc.message)


async def review_ready(
    bot: Bot, session: AsyncSession, redis: ArqRedis, store: MediaStore, recording: Recording
) -> None:
    """Post the review card; start publishing at once when the template or workspace says so.

    A recording that has a card already (its chapters were made again from it) gets that card
    edited in place, keeping the platforms chosen on it; nothing more is posted and nothing is
    published by itself.
    """
    workspace = await session.get(Workspace, recording.workspace_id)
    connected = await offered_platforms(session, recording)
    state = review_state(recording)
    again = bool(state.get("card")) and recording.chat_id is not None
    if again and isinstance(state.get("platforms"), list):
        platforms = [p for p in state["platforms"] if p in connected]
    else:
        platforms = default_platforms(recording, workspace, connected)
    set_review_state(recording, platforms=platforms)
    lang = recording.language
    # A person asked for the chapters again from the card: they review them, nothing starts.
    auto = not again and (
        bool(recording.media.get("compose", {}).get("auto_publish"))
        or bool(recording.options.get("auto_publish"))
        or bool((workspace.settings or {}).get("auto_publish") if workspace is not None else False)
    )
    note = None
    lost = lost_for_sound(recording, workspace, platforms) if auto else []
    if auto and quality_flags(recording):
        note = gettext(lang, "review.auto_held")
    elif lost:
        names = ", ".join(platform_name(lang, p) for p in lost)
        note = gettext(lang, "review.auto_held_sound", platforms=names)
    elif auto and platforms:
        try:
            await control.publish(session, redis, recording, platforms, None)
        except Exception:
            log.exception("recording %s: automatic publishing did not start", recording.id)
            await session.rollback()
            recording = await repo.get_recording(  # type: ignore[assignment]
                session, recording.workspace_id, recording.id
            )
            set_review_state(recording, platforms=platforms)
            note = gettext(lang, "review.auto_failed")
        else:
            names = ", ".join(platform_name(lang, p) for p in platforms)
            note = gettext(lang, "review.auto_started", platforms=names)
    if again:
        await session.commit()
        await _redraw_in_place(bot, session, store, recording, note)
        return
    await send_review_card(bot, session, store, recording, note=note, with_subtitles=True)
    if workspace is not None and workspace.kind is WorkspaceKind.GROUP and not (auto and platforms):
        await _call_admins(bot, session, workspace, recording)


async def _redraw_in_place(
    bot: Bot, session: AsyncSession, store: MediaStore, recording: Recording, note: str | None
) -> None:
    """The card edited where it is (posted again if it is gone); a short flood wait is sat out,
    since the press that started the work edited the same message a moment ago."""
    for _ in range(3):
        try:
            await refresh_review_card(bot, session, store, recording, note)
            return
        except TelegramRetryAfter as exc:
            if exc.retry_after > MAX_CARD_WAIT:
                raise
            await asyncio.sleep(exc.retry_after)


async def _call_admins(
    bot: Bot, session: AsyncSession, workspace: Workspace, recording: Recording
) -> None:
    """In a group only admins publish: name them, so Telegram tells them a card waits."""
    admins = [m for m in await repo.members(session, workspace.id) if m.role.is_admin][:5]
    if not admins or recording.chat_id is None:
        return
    names = ", ".join(
        f'<a href="tg://user?id={m.user_id}">{html.escape(m.name or str(m.user_id))}</a>'
        for m in admins
    )
    text = gettext(recording.language, "review.waits_for_admins", names=names)
    try:
        await bot.send_message(
            recording.chat_id,
            text,
            message_thread_id=recording.thread_id,
            disable_notification=False,
        )
    except TelegramAPIError as exc:
        log.warning("recording %s: admins not called: %s", recording.id, exc.message)
