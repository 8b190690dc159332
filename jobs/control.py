"""What people do to a recording's work: retry a failed stage, cancel, delete, queue places.

The bot calls these with its own session and Redis; nothing here talks to Telegram. Every
function takes the workspace id, so a recording id from another workspace finds nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

import sqlalchemy as sa
from arq.connections import ArqRedis
from arq.jobs import Job
from sqlalchemy.ext.asyncio import AsyncSession

from jobs import files
from jobs.enqueue import enqueue_stage
from jobs.queues import STAGE_QUEUE, job_id
from pipeline import templates
from pipeline.timecodes import Chapter
from pipeline.topics import Topics, from_chapters
from storage import repo
from storage.files import MediaStore
from storage.models import (
    TERMINAL_STATUSES,
    Publication,
    Recording,
    RecordingStatus,
    StageRun,
    StageStatus,
)

log = logging.getLogger(__name__)

CANCELLED = "cancelled"

# Statuses of a recording that still waits for or occupies a pipeline worker.
_IN_PIPELINE = [
    s for s in RecordingStatus if s not in TERMINAL_STATUSES and s is not RecordingStatus.UPLOADING
]


def can_retry(recording: Recording) -> bool:
    return recording.status is RecordingStatus.FAILED and recording.stage is not None


def can_cancel(recording: Recording) -> bool:
    return recording.status in _IN_PIPELINE and recording.stage is not None


async def retry(
    session: AsyncSession, redis: ArqRedis, workspace_id: int, recording_id: int
) -> str | None:
    """Queue the stage a recording failed (or was cancelled) in; returns that stage.

    None when the recording is not there or has nothing to retry. Commits, because the worker
    must see the recording waiting before it picks the job up.
    """
    recording = await repo.get_recording(session, workspace_id, recording_id)
    if recording is None or not can_retry(recording):
        return None
    stage = recording.stage
    assert stage is not None
    run = await repo.stage_run(session, workspace_id, recording_id, stage)
    run.status = StageStatus.PENDING
    run.error = None
    # Any non-final status lets the runner take the stage; it sets the precise one itself.
    recording.status = RecordingStatus.PROCESSING
    recording.failure_code = None
    recording.failure_reason = None
    await session.commit()
    await enqueue_stage(redis, workspace_id, recording_id, stage)
    return stage


async def cancel(
    session: AsyncSession,
    redis: ArqRedis,
    workspace_id: int,
    recording_id: int,
    reason: str,
    *,
    wait: float = 5.0,
) -> str | None:
    """Stop a recording's pipeline: mark it failed as cancelled, then abort its job.

    The database is marked first, so whatever the job still does finds the recording final
    and the recovery sweep never queues it again. Returns the stage that was stopped.
    """
    recording = await repo.get_recording(session, workspace_id, recording_id)
    if recording is None or not can_cancel(recording):
        return None
    stage = recording.stage
    assert stage is not None
    repo.fail_recording(recording, CANCELLED, reason)
    run = await repo.stage_run(session, workspace_id, recording_id, stage)
    repo.mark_finished(run, StageStatus.FAILED, CANCELLED)
    await session.commit()
    await abort(redis, recording_id, stage, wait=wait)
    return stage


async def abort(redis: ArqRedis, recording_id: int, stage: str, *, wait: float = 5.0) -> None:
    """Ask arq to cancel a stage's job, queued or running, and wait a little for it to go."""
    job = Job(job_id(recording_id, stage), redis, _queue_name=STAGE_QUEUE[stage])
    # abort() waits for a result our stages never keep, so "not found" and a timeout both mean
    # "no longer known as running", which is all a cancel needs.
    with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
        await job.abort(timeout=wait, poll_delay=0.2)


async def delete(
    session: AsyncSession,
    redis: ArqRedis,
    store: MediaStore,
    workspace_id: int,
    recording_id: int,
) -> bool:
    """Remove a recording's files and rows; what was published elsewhere stays published."""
    recording = await repo.get_recording(session, workspace_id, recording_id)
    if recording is None:
        return False
    stage = recording.stage
    running = can_cancel(recording)
    for model in (StageRun, Publication):
        await session.execute(
            sa.delete(model).where(
                model.workspace_id == workspace_id, model.recording_id == recording_id
            )
        )
    await session.execute(
        sa.delete(Recording).where(
            Recording.workspace_id == workspace_id, Recording.id == recording_id
        )
    )
    await session.commit()
    if running and stage is not None:
        await abort(redis, recording_id, stage, wait=2.0)
    freed = await asyncio.to_thread(store.delete_recording, workspace_id, recording_id)
    log.info("recording %s deleted from workspace %s (%d bytes)", recording_id, workspace_id, freed)
    return True


async def publish(
    session: AsyncSession,
    redis: ArqRedis,
    recording: Recording,
    platforms: list[str],
    user_id: int | None,
) -> list[str]:
    """Hand a reviewed recording to the publishers (who audit it); returns the platforms queued."""
    # Imported here: publishing imports cards, which import this module.
    from jobs.publish import request_publication

    queued = await request_publication(
        session, redis, recording.workspace_id, recording.id, list(platforms), user_id
    )
    if queued and recording.status is RecordingStatus.AWAITING_REVIEW:
        recording.status = RecordingStatus.UPLOADING
        await session.commit()
    return list(queued)


async def queue_place(session: AsyncSession, workspace_id: int, recording_id: int) -> int:
    """How many of the workspace's recordings are in the pipeline before this one (0: none)."""
    ahead = await session.scalar(
        sa.select(sa.func.count())
        .select_from(Recording)
        .where(
            Recording.workspace_id == workspace_id,
            Recording.id < recording_id,
            Recording.stage.is_not(None),
            Recording.status.in_(_IN_PIPELINE),
        )
    )
    return int(ahead or 0)


# --- a person's corrections: chapters, title and description ---------------------------


def video_duration(recording: Recording) -> float:
    trim = recording.media.get("trim", {})
    return float(trim.get("duration") or recording.media.get("source", {}).get("duration") or 0.0)


def current_chapters(store: MediaStore, recording: Recording) -> list[Chapter]:
    """The chapters as they would be published: metadata.json's, else the found topics."""
    folder = store.recording_dir(recording.workspace_id, recording.id, create=False)
    try:
        metadata = json.loads((folder / files.METADATA).read_text(encoding="utf-8"))
        chapters = [Chapter.model_validate(c) for c in metadata.get("chapters") or []]
    except (OSError, ValueError):
        chapters = []
    if chapters:
        return chapters
    try:
        found = Topics.load_json(folder / files.TOPICS)
    except (OSError, ValueError):
        return []
    return [Chapter(start=t.start, title=t.title) for t in found.topics]


async def save_chapters(
    session: AsyncSession, store: MediaStore, recording: Recording, chapters: list[Chapter]
) -> templates.Metadata:
    """Write a corrected chapter list into topics.json, then compose metadata.json again."""
    folder = store.recording_dir(recording.workspace_id, recording.id)
    try:
        earlier = Topics.load_json(folder / files.TOPICS)
    except (OSError, ValueError):
        earlier = Topics()
    corrected = from_chapters(chapters, summary=earlier.summary, breaks=earlier.breaks)
    await asyncio.to_thread(files.write_text, folder / files.TOPICS, corrected.dump_json())
    return await recompose(session, store, recording)


async def recompose(
    session: AsyncSession, store: MediaStore, recording: Recording
) -> templates.Metadata:
    """metadata.json from topics.json, the recording's template and the person's own texts.

    Raises TemplateError when the template cannot render.
    """
    # Imported here: compose imports the runner, which imports cards, which import this module.
    from jobs.compose import recording_facts

    folder = store.recording_dir(recording.workspace_id, recording.id)
    try:
        found = Topics.load_json(folder / files.TOPICS)
    except (OSError, ValueError):
        found = Topics()
    facts: dict[str, object] = dict(recording_facts(recording))
    template = await matched_template(session, recording, facts)
    review = recording.media.get("review") or {}
    changes: dict[str, str] = {}
    # The person's texts go in as variables, so the sandbox and YouTube's limits still apply
    # and the chapter list stays generated.
    if review.get("title"):
        facts["custom_title"] = str(review["title"])
        changes["title_template"] = "{{ custom_title }}"
    if review.get("description"):
        facts["custom_description"] = str(review["description"])
        changes["description_template"] = "{{ custom_description }}\n\n{{ chapters }}"
    if changes:
        template = template.model_copy(update=changes)
    metadata = templates.compose_metadata(template, facts, found, video_duration(recording))
    await asyncio.to_thread(files.write_text, folder / files.METADATA, metadata.dump_json())
    compose = {**recording.media.get("compose", {}), "title": metadata.title}
    recording.media = {**recording.media, "compose": compose}
    await session.flush()
    return metadata


async def matched_template(
    session: AsyncSession, recording: Recording, facts: dict[str, object]
) -> templates.Template:
    """The template compose used for this recording, else the one that matches it now."""
    workspace_templates = []
    for row in await repo.templates(session, recording.workspace_id):
        try:
            workspace_templates.append(templates.Template.model_validate(row.body))
        except ValueError:
            log.warning("template %s of workspace %s is invalid", row.id, row.workspace_id)
    name = recording.media.get("compose", {}).get("template")
    for template in workspace_templates:
        if template.name == name:
            return template
    return templates.match_template(workspace_templates, facts)
