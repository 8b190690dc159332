"""What people do on a review card, apart from the chat around it: platforms, publish, discard,
their own title and description, and a corrected topic list.

The bot's review handlers check who pressed and parse what was typed; the steps live here.

Rules:
- A platform can be chosen only when the recording can go there (sound alone skips YouTube
  and VK) and the workspace has it connected; the choice is kept in the recording's review
  state in the order platforms are offered.
- Publishing needs at least one chosen platform and goes through the publishing request API
  (`jobs.control.publish`); when it refuses or fails, nothing of it stays in the session.
- Every change is saved with its audit event (naming the recording) and committed at once,
  so the next press sees it.
- A title, description or topic list the recording's template cannot render raises
  TemplateError, having written nothing; a refused title or description is rolled back.
- A person's summary replaces the one in topics.json and the recording's media (marked as
  theirs, so it outlives the chapters being made again) and is composed into metadata.json;
  one the template cannot render leaves both files as they were.
- Making the chapters again (fewer, usual or more) keeps the choice in the recording's
  options and sends it back to the topics stage only, the way Retry queues a stage: the
  trimmed video and the transcript stay, and the stages after topics follow as usual, ending
  in a new review card.
"""

from __future__ import annotations

import asyncio
import enum
from typing import Any

from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession

from integrations.llm.summary import MAX_SUMMARY_CHARS
from jobs import cards, control, files
from jobs.enqueue import enqueue_stage
from jobs.publish import platforms_for
from pipeline.templates import TemplateError
from pipeline.templates.models import GRANULARITIES
from pipeline.timecodes import Chapter
from pipeline.topics import Topics
from storage import repo
from storage.files import MediaStore
from storage.models import Recording, RecordingStatus, StageStatus

__all__ = [
    "MAX_SUMMARY_CHARS",
    "PERSON",
    "NothingChosen",
    "PlatformChoice",
    "change_chapters",
    "change_description",
    "change_summary",
    "change_title",
    "discard",
    "publish",
    "rechapter",
    "toggle_platform",
]

# Where a summary a person wrote comes from (the topics stage keeps such a summary).
PERSON = "person"

# The stage that makes the chapters; those after it (subtitles, compose) follow by themselves.
TOPICS_STAGE = "topics"


class PlatformChoice(enum.Enum):
    TOGGLED = "toggled"
    UNFIT = "unfit"  # the recording cannot go there (a picture is needed)
    NOT_CONNECTED = "not_connected"


class NothingChosen(Exception):
    """Publish was pressed with no platform chosen."""


async def toggle_platform(
    session: AsyncSession, recording: Recording, platform: str
) -> PlatformChoice:
    """Choose ``platform`` for the recording, or stop choosing it."""
    if platform not in platforms_for(recording):
        return PlatformChoice.UNFIT
    connected = await cards.offered_platforms(session, recording)
    if platform not in connected:
        return PlatformChoice.NOT_CONNECTED
    chosen = cards.selected_platforms(recording, connected)
    if platform in chosen:
        chosen.remove(platform)
    else:
        chosen.append(platform)
    cards.set_review_state(recording, platforms=[p for p in connected if p in chosen])
    await session.commit()
    return PlatformChoice.TOGGLED


async def publish(
    session: AsyncSession, redis: ArqRedis, recording: Recording, user_id: int
) -> list[str]:
    """Publish to the chosen platforms; returns those now being published.

    Raises NothingChosen, PlatformRefused (a platform the recording cannot go to) or whatever
    kept publishing from starting, having rolled the session back.
    """
    connected = await cards.offered_platforms(session, recording)
    platforms = cards.selected_platforms(recording, connected)
    if not platforms:
        raise NothingChosen
    try:
        queued = await control.publish(session, redis, recording, platforms, user_id)
    except Exception:
        await session.rollback()
        raise
    return queued or platforms


async def discard(session: AsyncSession, recording: Recording, user_id: int) -> None:
    recording.status = RecordingStatus.SKIPPED
    await repo.audit(
        session, recording.workspace_id, user_id, "discard", f"recording:{recording.id}"
    )
    await session.commit()


async def change_title(
    session: AsyncSession, store: MediaStore, recording: Recording, title: str, user_id: int
) -> None:
    """The person's own title, composed into metadata.json."""
    cards.set_review_state(recording, title=title)
    await _recompose(session, store, recording)
    await _audit(session, recording, user_id, "title_changed", title=title)
    await session.commit()


async def change_description(
    session: AsyncSession, store: MediaStore, recording: Recording, text: str, user_id: int
) -> None:
    """The person's own description, composed with the chapter list into metadata.json."""
    cards.set_review_state(recording, description=text)
    await _recompose(session, store, recording)
    await _audit(session, recording, user_id, "description_changed", chars=len(text))
    await session.commit()


async def change_summary(
    session: AsyncSession, store: MediaStore, recording: Recording, text: str, user_id: int
) -> None:
    """The person's own summary, into topics.json and, through the template, metadata.json."""
    ws, rec = recording.workspace_id, recording.id
    path = await store.fetch(ws, rec, files.TOPICS)
    try:
        earlier = Topics.load_json(path)
    except (OSError, ValueError):
        earlier = Topics()
    folder = store.recording_dir(ws, rec)
    await asyncio.to_thread(
        files.write_text,
        folder / files.TOPICS,
        earlier.model_copy(update={"summary": text}).dump_json(),
    )
    await store.put(ws, rec, files.TOPICS)
    recording.media = {**recording.media, "summary": {"text": text, "source": PERSON}}
    try:
        await _recompose(session, store, recording)
    except TemplateError:
        await asyncio.to_thread(files.write_text, folder / files.TOPICS, earlier.dump_json())
        await store.put(ws, rec, files.TOPICS)
        raise
    await _audit(session, recording, user_id, "summary_changed", chars=len(text))
    await session.commit()


async def change_chapters(
    session: AsyncSession,
    store: MediaStore,
    recording: Recording,
    chapters: list[Chapter],
    user_id: int,
    how: str,
) -> None:
    """Save a corrected topic list with its audit event (``how``: list, rename, time, add,
    delete).

    A template that fails on the new list leaves topics.json and metadata.json as they were.
    """
    await control.save_chapters(session, store, recording, chapters)
    await _audit(session, recording, user_id, "topics_changed", how=how, count=len(chapters))
    await session.commit()


async def rechapter(
    session: AsyncSession, redis: ArqRedis, recording: Recording, granularity: str, user_id: int
) -> None:
    """Make the recording's chapters again, ``granularity`` ("fewer", "normal", "more").

    Commits before queueing, because the worker must see the recording waiting for its
    topics stage before it picks the job up.
    """
    if granularity not in GRANULARITIES:
        raise ValueError(f"no such granularity: {granularity}")
    recording.options = {**recording.options, "granularity": granularity}
    run = await repo.stage_run(session, recording.workspace_id, recording.id, TOPICS_STAGE)
    run.status = StageStatus.PENDING
    run.error = None
    recording.stage = TOPICS_STAGE
    # Any non-final status lets the runner take the stage; it sets the precise one itself.
    recording.status = RecordingStatus.PROCESSING
    await _audit(session, recording, user_id, "topics_changed", how=f"granularity_{granularity}")
    await session.commit()
    await enqueue_stage(redis, recording.workspace_id, recording.id, TOPICS_STAGE)


async def _recompose(session: AsyncSession, store: MediaStore, recording: Recording) -> None:
    try:
        await control.recompose(session, store, recording)
    except TemplateError:
        await session.rollback()
        raise


async def _audit(
    session: AsyncSession, recording: Recording, user_id: int, action: str, **details: Any
) -> None:
    await repo.audit(
        session, recording.workspace_id, user_id, action, f"recording:{recording.id}", **details
    )
