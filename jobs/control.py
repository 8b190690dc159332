"""What people do to a recording's work: retry a failed stage, cancel, delete, publish again.

The bot calls these with its own session and Redis; nothing here talks to Telegram. Every
function takes the workspace id, so a recording id from another workspace finds nothing.

Publish again redoes what failed and makes a fresh file export; it never posts a video that
exists on a platform a second time. The results of a processed recording (subtitles, chapter
list, description, the export archive) can be handed out again at any time; the archive is
the one the export publishes, and is made when it is missing or older than its parts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from arq.connections import ArqRedis
from arq.jobs import Job
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from integrations import export
from jobs import files, keys
from jobs.enqueue import enqueue_stage
from jobs.facts import recording_facts
from jobs.publish.metadata import ARCHIVE_TEXT, archive_name, description_text, read_metadata
from jobs.publish.request import request_publication
from jobs.queues import STAGE_QUEUE, job_id
from leap.settings import Settings
from pipeline import questions, template_runner, templates
from pipeline.timecodes import Chapter
from pipeline.topics import Topics, chapters_text, from_chapters
from storage import repo, search
from storage.files import MediaStore
from storage.models import (
    TERMINAL_STATUSES,
    Publication,
    PublicationStatus,
    Recording,
    RecordingStatus,
    StageRun,
    StageStatus,
)

log = logging.getLogger(__name__)

# Longest a new recording may hold its workspace's quota turn (a Telegram send included).
QUOTA_TURN_SECONDS = 60


@asynccontextmanager
async def quota_turn(redis: Redis, workspace_id: int) -> AsyncIterator[None]:
    """One new recording of a workspace at a time, from its quota check to its commit.

    Files sent together, links, Zoom picks and the scheduled Zoom sync are handled side by
    side (in every bot and worker process): each would pass a check that none of the others
    has been counted in yet.
    """
    async with redis.lock(
        keys.quota_turn(workspace_id),
        timeout=QUOTA_TURN_SECONDS,
        blocking_timeout=QUOTA_TURN_SECONDS,
    ):
        yield


CANCELLED = "cancelled"

# Statuses of a recording that still waits for or occupies a pipeline worker.
_IN_PIPELINE = [
    s for s in RecordingStatus if s not in TERMINAL_STATUSES and s is not RecordingStatus.UPLOADING
]


def can_retry(recording: Recording) -> bool:
    return recording.status is RecordingStatus.FAILED and recording.stage is not None


def can_cancel(recording: Recording) -> bool:
    return recording.status in _IN_PIPELINE and recording.stage is not None


# A publication in one of these has a job that may be sending bytes right now.
_PUBLISHING = (PublicationStatus.PENDING, PublicationStatus.UPLOADING)
# Recordings whose publishing has ended; one that ended with a failed platform may try again.
_PUBLISHED_OR_NOT = (RecordingStatus.READY, RecordingStatus.FAILED)


def failed_platforms(recording: Recording, publications: Sequence[Publication]) -> list[str]:
    """The platforms whose publication failed, once publishing has ended; [] otherwise."""
    if recording.status not in _PUBLISHED_OR_NOT:
        return []
    if any(p.status in _PUBLISHING for p in publications):
        return []
    return [p.platform for p in publications if p.status is PublicationStatus.FAILED]


# Publishing again to these makes a fresh copy for the chat (a new archive or download link),
# never a second public post, so they are offered again after they succeeded too.
_REPEATABLE = frozenset({"export"})


def republishable(recording: Recording, publications: Sequence[Publication]) -> list[str]:
    """What Publish again would queue once publishing has ended: every failed platform, and
    a file export that went out (its link may have expired, its file may be lost in the chat).
    A post that exists on YouTube, VK or a channel is never made twice."""
    if recording.status not in _PUBLISHED_OR_NOT:
        return []
    if any(p.status in _PUBLISHING for p in publications):
        return []
    return [
        p.platform
        for p in publications
        if p.status is PublicationStatus.FAILED
        or (p.status is PublicationStatus.DONE and p.platform in _REPEATABLE)
    ]


# Statuses whose recording has been through the whole pipeline: its files are all there.
_HAS_RESULTS = frozenset(
    {
        RecordingStatus.AWAITING_REVIEW,
        RecordingStatus.UPLOADING,
        RecordingStatus.READY,
        RecordingStatus.FAILED,
        RecordingStatus.SKIPPED,
    }
)


def has_results(recording: Recording) -> bool:
    """Whether the pipeline finished, so subtitles, chapters and a description exist."""
    return recording.stage is None and recording.status in _HAS_RESULTS


async def is_publishing(session: AsyncSession, workspace_id: int, recording_id: int) -> bool:
    """Whether a publish job of the recording may still be running or waiting to run."""
    found = await session.scalar(
        sa.select(sa.func.count())
        .select_from(Publication)
        .where(
            Publication.workspace_id == workspace_id,
            Publication.recording_id == recording_id,
            Publication.status.in_(_PUBLISHING),
        )
    )
    return bool(found)


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
    """Remove a recording's files and rows; what was published elsewhere stays published.

    False, with nothing removed, when the recording is not there or is being published: a
    publish job cannot be stopped half-way through an upload, and one that lost its rows
    could neither resume nor tell anyone what it left on the platform.
    """
    recording = await repo.get_recording(session, workspace_id, recording_id)
    if recording is None or await is_publishing(session, workspace_id, recording_id):
        return False
    stage = recording.stage
    running = can_cancel(recording)
    for model in (StageRun, Publication, search.Passage):
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

    queued = await request_publication(
        session, redis, recording.workspace_id, recording.id, list(platforms), user_id
    )
    if queued and recording.status is RecordingStatus.AWAITING_REVIEW:
        recording.status = RecordingStatus.UPLOADING
        await session.commit()
    return list(queued)


async def publish_again(
    session: AsyncSession, redis: ArqRedis, recording: Recording, user_id: int | None
) -> list[str]:
    """Queue again what `republishable` names once publishing has ended; returns those queued.

    Raises PlatformRefused like `publish`; [] when there is nothing to redo or publishing goes
    on. A file export that went out is forgotten first, so its job makes a new one.
    """

    rows = await repo.publications(session, recording.workspace_id, recording.id)
    platforms = republishable(recording, rows)
    if not platforms:
        return []
    for row in rows:
        if row.platform in platforms and row.status is PublicationStatus.DONE:
            # request_publication takes a failed row again as it is; this one starts afresh.
            row.status = PublicationStatus.FAILED
            row.remote_id = row.url = row.resume = row.error = None
    return await request_publication(
        session, redis, recording.workspace_id, recording.id, platforms, user_id
    )


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


# --- the results again: what /recordings hands out --------------------------------------


@dataclass(frozen=True)
class Download:
    """One file of a recording's results: a file of its folder, or text made on the spot."""

    kind: str  # srt, vtt, chapters, description
    filename: str
    path: Path | None = None
    text: str | None = None


# One archive build per recording at a time in this process: two presses would write the
# same temporary file. A lock is a few bytes per recording asked for, kept for the process.
_ARCHIVE_LOCKS: dict[int, asyncio.Lock] = {}


async def downloads(store: MediaStore, recording: Recording) -> list[Download]:
    """Subtitles (SRT, VTT), the chapter list and the description of a processed recording,
    named after its title; files that are missing or empty are left out."""

    ws, rec = recording.workspace_id, recording.id
    await store.fetch(ws, rec, files.METADATA)
    folder = store.recording_dir(ws, rec, create=False)
    meta = await asyncio.to_thread(read_metadata, folder, recording)
    chapters = await fetch_chapters(store, recording)
    stem = archive_name(meta["title"], rec)[:-4]
    found: list[Download] = []
    for kind, name in (("srt", files.SRT), ("vtt", files.VTT)):
        path = await store.fetch(ws, rec, name)
        if path.is_file() and path.stat().st_size > 0:
            found.append(Download(kind, f"{stem}.{kind}", path=path))
    if chapters:
        found.append(Download("chapters", f"{stem} - chapters.txt", text=chapters_text(chapters)))
    found.append(
        Download("description", f"{stem} - description.txt", text=description_text(meta, chapters))
    )
    return found


async def archive(store: MediaStore, recording: Recording) -> Path | None:
    """The recording's export archive (video, subtitles, metadata, description), made now when
    there is none or its parts changed since; None without a processed video."""

    ws, rec = recording.workspace_id, recording.id
    lock = _ARCHIVE_LOCKS.setdefault(rec, asyncio.Lock())
    async with lock:
        # Translated subtitles go in too; the archive leaves out what was never made.
        parts = [files.VIDEO, files.SRT, files.VTT, files.METADATA, *files.translations()]
        paths = [await store.fetch(ws, rec, name) for name in parts]
        if not paths[0].is_file():
            return None
        made = await store.fetch(ws, rec, export.ARCHIVE)
        if made.is_file() and made.stat().st_size > 0:
            newest = max(p.stat().st_mtime for p in paths if p.is_file())
            if made.stat().st_mtime >= newest:
                return made
        folder = store.recording_dir(ws, rec)
        meta = await asyncio.to_thread(read_metadata, folder, recording)
        chapters = await fetch_chapters(store, recording)
        await asyncio.to_thread(
            export.build_archive,
            folder / export.ARCHIVE,
            list(zip(paths, parts, strict=True)),
            {ARCHIVE_TEXT: description_text(meta, chapters)},
        )
        # A download link serves it from the bucket when media lives in one.
        await store.put(ws, rec, export.ARCHIVE)
        return folder / export.ARCHIVE


def export_link(settings: Settings, recording: Recording) -> tuple[str, int] | None:
    """A signed download link to the recording's archive and its expiry (Unix seconds);
    None when the bot has no public address or no secret to sign with."""
    secret = settings.secret_key.get_secret_value() if settings.secret_key else ""
    base = settings.public_base_url
    if not base or not secret:
        return None
    expires = int(time.time() + settings.export_link_hours * 3600)
    token = export.sign(export.link_key(secret), recording.workspace_id, recording.id, expires)
    return f"{base.rstrip('/')}/export/{token}", expires


# --- a person's corrections: chapters, title and description ---------------------------


def video_duration(recording: Recording) -> float:
    trim = recording.media.get("trim", {})
    return float(trim.get("duration") or recording.media.get("source", {}).get("duration") or 0.0)


async def fetch_chapters(store: MediaStore, recording: Recording) -> list[Chapter]:
    """`current_chapters` off the event loop: with media in a bucket it may download."""
    return await asyncio.to_thread(current_chapters, store, recording)


def current_chapters(store: MediaStore, recording: Recording) -> list[Chapter]:
    """The chapters as they would be published: metadata.json's, else the found topics.

    With media in a bucket this waits for a small request; async code awaits `fetch_chapters`.
    """
    ws, rec = recording.workspace_id, recording.id
    try:
        # A worker on another machine may have written it: the store brings the newest copy.
        metadata_path = store.fetch_now(ws, rec, files.METADATA)
        metadata = json.loads(metadata_path.read_text(encoding="utf-8"))
        chapters = [Chapter.model_validate(c) for c in metadata.get("chapters") or []]
    except (OSError, ValueError):
        chapters = []
    if chapters:
        return chapters
    try:
        found = Topics.load_json(store.fetch_now(ws, rec, files.TOPICS))
    except (OSError, ValueError):
        return []
    return [Chapter(start=t.start, title=t.title) for t in found.topics]


async def save_chapters(
    session: AsyncSession, store: MediaStore, recording: Recording, chapters: list[Chapter]
) -> templates.Metadata:
    """Write a corrected chapter list into topics.json and compose metadata.json again.

    Raises TemplateError, having written neither file, when the template cannot render the
    new list: the two files always describe the same chapters.
    """
    earlier = await _topics(store, recording)
    corrected = from_chapters(chapters, summary=earlier.summary, breaks=earlier.breaks)
    metadata = await _composed(session, recording, corrected)
    await _write(store, recording, files.TOPICS, corrected.dump_json())
    await _write(store, recording, files.METADATA, metadata.dump_json())
    _note_title(recording, metadata)
    await session.flush()
    return metadata


async def recompose(
    session: AsyncSession, store: MediaStore, recording: Recording
) -> templates.Metadata:
    """metadata.json from topics.json, the recording's template and the person's own texts.

    Raises TemplateError, having written nothing, when the template cannot render.
    """
    metadata = await _composed(session, recording, await _topics(store, recording))
    await _write(store, recording, files.METADATA, metadata.dump_json())
    _note_title(recording, metadata)
    await session.flush()
    return metadata


async def _topics(store: MediaStore, recording: Recording) -> Topics:
    try:
        return Topics.load_json(
            await store.fetch(recording.workspace_id, recording.id, files.TOPICS)
        )
    except (OSError, ValueError):
        return Topics()


async def _composed(
    session: AsyncSession, recording: Recording, found: Topics
) -> templates.Metadata:
    # Imported here: compose imports the runner, which imports cards, which import this module.

    facts: dict[str, object] = dict(recording_facts(recording))
    template = await matched_template(session, recording, facts)
    facts["questions"] = questions.media_text(recording.media)
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
    # In a child process: the person's template must not stall the bot's event loop.
    return await template_runner.compose_metadata(template, facts, found, video_duration(recording))


async def _write(store: MediaStore, recording: Recording, name: str, text: str) -> None:
    folder = store.recording_dir(recording.workspace_id, recording.id)
    await asyncio.to_thread(files.write_text, folder / name, text)
    await store.put(recording.workspace_id, recording.id, name)


def _note_title(recording: Recording, metadata: templates.Metadata) -> None:
    compose = {**recording.media.get("compose", {}), "title": metadata.title}
    recording.media = {**recording.media, "compose": compose}


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
