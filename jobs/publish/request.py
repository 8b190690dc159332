"""Asking for publication: the rows, the recording's status and the queued jobs.

`request_publication` creates a Publication row per platform (one per recording and
platform), marks the recording UPLOADING and queues ``rec:{id}:publish:{platform}`` on the io
queue, one job per platform, run in parallel.

- Idempotent: a platform already published or in progress is not queued again; a failed one
  is tried again, keeping what it already made. Two presses of Publish at once are decided by
  the unique (recording, platform) of the rows.
- Sound without a picture (a voice message, an .m4a) can go to a Telegram channel, as audio,
  and to the export; YouTube and VK need a picture, so the request refuses them for such a
  recording before it writes anything, whoever asks: buttons are only a view, this is the rule.
- A send whose answer was lost fails its platform asking the person to look; asking again is
  the person's answer, so the mark is cleared and the platform sends once more.
- The jobs must find the rows it wrote, so it commits the session before queueing.
"""

from __future__ import annotations

import asyncio
import logging

from arq.connections import ArqRedis
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from jobs.enqueue import has_job
from jobs.publish.errors import PlatformRefused
from jobs.publish.metadata import is_audio_only
from jobs.publish.outcome import Lines, line
from jobs.publish.registry import BY_NAME, NEEDS_PICTURE, PLATFORMS
from jobs.publish.resume import SendingResume
from jobs.queues import IO, job_id
from storage import repo
from storage.models import Publication, PublicationStatus, Recording, RecordingStatus

log = logging.getLogger(__name__)


def platforms_for(recording: Recording) -> tuple[str, ...]:
    """The platforms that can take this recording as it is."""
    if is_audio_only(recording):
        return tuple(p for p in PLATFORMS if p not in NEEDS_PICTURE)
    return PLATFORMS


def publish_job_id(recording_id: int, platform: str) -> str:
    return job_id(recording_id, f"publish:{platform}")


async def request_publication(
    session: AsyncSession,
    redis: ArqRedis,
    workspace_id: int,
    recording_id: int,
    platforms: list[str],
    user_id: int | None,
) -> list[str]:
    """Start publishing a reviewed recording to `platforms`; returns the platforms queued.

    Idempotent: a platform already published or in progress is not queued again; a failed
    one is tried again (keeping what it already made). Commits the session, because the jobs
    must find the rows it wrote. Raises PlatformRefused, before writing anything, when a
    platform cannot take the recording: buttons are only a view, this is the rule.
    """
    recording = await repo.get_recording(session, workspace_id, recording_id)
    if recording is None:
        return []
    wanted = [p for p in dict.fromkeys(platforms) if p in PLATFORMS]
    refused = [p for p in wanted if p not in platforms_for(recording)]
    if refused:
        raise PlatformRefused(recording_id, refused)
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    for platform in wanted:
        # Two presses of Publish at once: the unique (recording, platform) decides.
        await session.execute(
            insert(Publication)
            .values(
                workspace_id=workspace_id,
                recording_id=recording_id,
                platform=platform,
                status=PublicationStatus.PENDING,
                attempts=0,
            )
            .on_conflict_do_nothing(index_elements=["recording_id", "platform"])
        )
    rows = {p.platform: p for p in await repo.publications(session, workspace_id, recording_id)}
    queued: list[str] = []
    for platform in wanted:
        publication = rows[platform]
        if publication.status == PublicationStatus.DONE:
            continue
        if publication.status in (PublicationStatus.PENDING, PublicationStatus.UPLOADING):
            if await has_job(redis, recording_id, f"publish:{platform}"):
                continue
        if publication.status == PublicationStatus.FAILED:
            resume = BY_NAME[platform].load_resume(publication.resume)
            if isinstance(resume, SendingResume) and resume.sending:
                # The person was told the message may be there and asks again: the answer.
                publication.resume = None
        publication.status = PublicationStatus.PENDING
        publication.error = None
        queued.append(platform)
    if not queued:
        await session.commit()
        return []
    recording.status = RecordingStatus.UPLOADING
    recording.failure_code = None
    recording.failure_reason = None
    await repo.audit(
        session, workspace_id, user_id, "publish_requested", str(recording_id), platforms=queued
    )
    await session.commit()

    lines = Lines(redis, recording_id)
    for platform in queued:
        await lines.set(platform, line(recording.language, "queued", platform))
    for platform in queued:
        await _enqueue(redis, workspace_id, recording_id, platform)
    log.info("recording %s: publishing to %s", recording_id, ", ".join(queued))
    return queued


async def _enqueue(redis: ArqRedis, workspace_id: int, recording_id: int, platform: str) -> bool:
    # A job that has just failed this platform may still hold its id for a moment while it
    # finishes; asked again right then, wait for it rather than leave the work to the sweep.
    for _ in range(50):
        job = await redis.enqueue_job(
            BY_NAME[platform].job_name,
            workspace_id,
            recording_id,
            _job_id=publish_job_id(recording_id, platform),
            _queue_name=IO,
        )
        if job is not None:
            return True
        await asyncio.sleep(0.1)
    return False
