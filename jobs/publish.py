"""Publishing: one `publish_<platform>` job per target, run in parallel, each with its status.

`request_publication` creates a Publication row per platform (one per recording and
platform), marks the recording UPLOADING and queues ``rec:{id}:publish:{platform}`` on the
io queue. Each job loads the recording, its publication and the workspace's connection,
publishes the files the pipeline left in the recording's folder, and records what it made.

Never twice: a remote id (and YouTube's resumable session, VK's upload address) is written
to the Publication row the moment the platform hands it out, before any byte is sent and long
before the row is marked done; a job that finds one continues from it instead of starting
over. YouTube's captions, thumbnail and playlist item are not idempotent at Google, so each
is recorded in ``recording.media["publish"]["youtube"]`` as soon as it is made. A Telegram
post or export has no id before it exists and the Bot API takes no idempotency key: the row is
marked SENDING first, and a send whose answer was lost (or a try that finds the mark) fails
the platform with a reason asking the person to look, instead of sending a second copy.

Progress: one line per platform under the recording's progress message. The lines live in
Redis so jobs in different processes draw the same picture.

The end: when no publication of the recording is pending or uploading, the recording becomes
READY if at least one platform published it, FAILED if every one failed, and the chat gets
one message with every link and, for each failed platform, the reason in plain words. A
done publication's `error` holds a note for the person (a thumbnail YouTube refused, say).
The review card follows along: it shows the per-platform lines while the jobs run, and
each platform's outcome with the buttons that still apply (Publish again, Delete) at the end.

Sound without a picture (a voice message, an .m4a) can go to a Telegram channel, as audio, and
to the export; YouTube and VK need a picture, so `request_publication` refuses them for such a
recording before it writes anything, whoever asks.

The template's choices are read from ``recording.media["compose"]`` where compose puts them:
``privacy`` (public, unlisted or private; private when absent), ``playlist_id``,
``vk_album_id`` and ``language``.

Faults: quota exhaustion waits (arq Retry deferred until the quota resets) and says so in the
chat; transient faults retry with a growing delay; a revoked grant marks the connection
broken, asks the chat to reconnect and fails the platform; anything else fails the platform
with a reason while the others carry on.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import sqlalchemy as sa
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import FSInputFile, Message
from arq import Retry
from arq.connections import ArqRedis
from arq.worker import Function, func
from redis.exceptions import LockError
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from integrations import export, google_oauth, telegram_channel, vk_oauth
from integrations.vk import VkAuthError, VkError, VkUploadTarget, VkVideo, video_url
from integrations.youtube import (
    EDUCATION_CATEGORY,
    UPLOAD_GRANULARITY,
    AsyncYouTube,
    QuotaExceeded,
    UploadSessionExpired,
    VideoMetadata,
    YouTube,
    YouTubeAuthError,
    YouTubeError,
    YouTubeTransient,
)
from jobs import files
from jobs.cards import display_name, publishing_ended, render, show_publishing
from jobs.context import WorkerDeps
from jobs.enqueue import has_job
from jobs.progress import ProgressMessage
from jobs.queues import IO, job_id
from locales import gettext
from locales.format import size
from pipeline.timecodes import Chapter
from pipeline.topics import chapters_text
from storage import repo
from storage.crypto import SecretBoxError
from storage.models import (
    AuditEvent,
    Credential,
    Publication,
    PublicationStatus,
    Recording,
    RecordingStatus,
)

log = logging.getLogger(__name__)


def _esc(text: str) -> str:
    # Text between tags only: quotes stay as typed.
    return html.escape(text, quote=False)


PLATFORMS = ("youtube", "vk", "telegram", "export")
# The connection each platform publishes through; the export needs none.
PROVIDERS = {"youtube": "youtube", "vk": "vk", "telegram": "telegram"}
PRIVACY = frozenset({"public", "unlisted", "private"})
# Transient faults are retried this many times before the platform is given up on.
MAX_TRIES = 20
TIMEOUTS = {"youtube": 6 * 3600, "vk": 6 * 3600, "telegram": 3600, "export": 3600}
LINES_TTL = 7 * 24 * 3600
# A VK access token this close to its end is renewed before an upload starts.
VK_REFRESH_MARGIN = 300
# Longest a job may hold a credential's refresh lock; a token request takes seconds.
CREDENTIAL_LOCK_SECONDS = 60
ARCHIVE_TEXT = "description.txt"

# A Telegram post or export in flight: stored as the publication's session_uri before the send
# and cleared when the answer comes. The Bot API has no idempotency key, so a try that finds it
# cannot know whether the message arrived, and does not send another.
SENDING = "telegram:sending"

# Platforms that show a picture: sound alone cannot be published there.
NEEDS_PICTURE = frozenset({"youtube", "vk"})


def upload_limit(deps: WorkerDeps) -> int:
    """Bytes the bot may send in one Telegram message (50 MB cloud, 2000 MB local server)."""
    settings = deps.settings
    limit_mb = (
        settings.local_upload_limit_mb
        if settings.telegram_api_local
        else settings.cloud_upload_limit_mb
    )
    return int(limit_mb * 1024 * 1024)


def is_audio_only(recording: Recording) -> bool:
    """Sound without a picture (a voice message, an .m4a): fetch found no video stream."""
    source = recording.media.get("source")
    return isinstance(source, dict) and source.get("has_video") is False


def platforms_for(recording: Recording) -> tuple[str, ...]:
    """The platforms that can take this recording as it is."""
    if is_audio_only(recording):
        return tuple(p for p in PLATFORMS if p not in NEEDS_PICTURE)
    return PLATFORMS


def publish_job_id(recording_id: int, platform: str) -> str:
    return job_id(recording_id, f"publish:{platform}")


# --- what goes wrong ------------------------------------------------------------------------


class PublishFailure(Exception):
    """A platform cannot publish this recording; `code` names a ``publish.error.*`` message."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


class Transient(Exception):
    """Worth another try later (network, 5xx, rate limits)."""


class Reconnect(Exception):
    """The platform no longer accepts the stored grant: the account must be connected again."""


class PlatformRefused(ValueError):
    """Publishing was asked for on platforms that cannot take the recording (sound only)."""

    def __init__(self, recording_id: int, platforms: list[str]) -> None:
        super().__init__(
            f"recording {recording_id} is sound only; {', '.join(platforms)} need a picture"
        )
        self.platforms = platforms


# --- asking for publication -----------------------------------------------------------------


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
        if publication.status == PublicationStatus.FAILED and publication.session_uri == SENDING:
            # The person was told the message may be there and asks again: that is the answer.
            publication.session_uri = None
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

    lines = _Lines(redis, recording_id)
    for platform in queued:
        await lines.set(platform, _line(recording.language, "queued", platform))
    for platform in queued:
        await _enqueue(redis, workspace_id, recording_id, platform)
    log.info("recording %s: publishing to %s", recording_id, ", ".join(queued))
    return queued


async def _enqueue(redis: ArqRedis, workspace_id: int, recording_id: int, platform: str) -> bool:
    # A job that has just failed this platform may still hold its id for a moment while it
    # finishes; asked again right then, wait for it rather than leave the work to the sweep.
    for _ in range(50):
        job = await redis.enqueue_job(
            f"publish_{platform}",
            workspace_id,
            recording_id,
            _job_id=publish_job_id(recording_id, platform),
            _queue_name=IO,
        )
        if job is not None:
            return True
        await asyncio.sleep(0.1)
    return False


# --- progress lines -------------------------------------------------------------------------


class _Lines:
    """The per-platform lines of one recording's progress message, shared through Redis."""

    def __init__(self, redis: ArqRedis, recording_id: int) -> None:
        self.redis = redis
        self.key = f"leap:publish:lines:{recording_id}"

    async def set(self, platform: str, text: str) -> str:
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hset(self.key, platform, text)
                pipe.expire(self.key, LINES_TTL)
                pipe.hgetall(self.key)
                *_, found = await pipe.execute()
        except Exception:  # a progress line must never fail a publication
            log.debug("publish lines not shared", exc_info=True)
            found = {platform: text}
        decoded = {_text(k): _text(v) for k, v in found.items()}
        return "\n".join(decoded[p] for p in PLATFORMS if p in decoded)

    async def clear(self) -> None:
        try:
            await self.redis.delete(self.key)
        except Exception:
            log.debug("publish lines not cleared", exc_info=True)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _line(lang: str, state: str, platform: str, **params: Any) -> str:
    name = gettext(lang, f"publish.platform.{platform}")
    return gettext(lang, f"publish.line.{state}", platform=name, **params)


# --- one platform's job ---------------------------------------------------------------------

_MEDIA_LOCKS: dict[int, asyncio.Lock] = {}


@dataclass
class Target:
    """A publish job's view of its recording: files, options, its row, its connection."""

    deps: WorkerDeps
    recording: Recording
    platform: str
    publication: Publication
    credential: Credential | None
    job_try: int
    _metadata: dict[str, Any] | None = field(default=None, repr=False)
    _percent: int = -1

    @property
    def lang(self) -> str:
        return self.recording.language

    def _(self, key: str, /, **params: Any) -> str:
        return gettext(self.lang, key, **params)

    @property
    def name(self) -> str:
        return self._(f"publish.platform.{self.platform}")

    @property
    def folder(self) -> Path:
        return self.deps.store.recording_dir(self.recording.workspace_id, self.recording.id)

    def file(self, name: str) -> Path | None:
        path = self.folder / name
        return path if path.is_file() and path.stat().st_size > 0 else None

    def video(self) -> Path:
        path = self.file(files.VIDEO)
        if path is None:
            raise PublishFailure("missing_video")
        return path

    @property
    def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            self._metadata = read_metadata(self.folder, self.recording)
        return self._metadata

    @property
    def options(self) -> dict[str, Any]:
        compose = self.recording.media.get("compose")
        return compose if isinstance(compose, dict) else {}

    @property
    def language(self) -> str:
        return str(self.options.get("language") or self.recording.language)

    def chapters(self) -> list[Chapter]:
        found = []
        for item in self.metadata.get("chapters") or []:
            try:
                found.append(Chapter.model_validate(item))
            except ValueError:
                continue
        return found

    # -- what the job records --

    async def save(self, *, outcome: dict[str, Any] | None = None, **fields: Any) -> None:
        """Store fields of the Publication row now: remote ids must outlive a crash.

        `outcome` (the details of a ``published`` or ``publish_failed`` audit event) goes into
        the audit log in the same commit, so the log never disagrees with the row.
        """
        workspace_id, recording_id = self.recording.workspace_id, self.recording.id
        async with self.deps.sessions() as session:
            row = await _publication(session, workspace_id, recording_id, self.platform)
            if row is None:
                return
            for key, value in fields.items():
                setattr(row, key, value)
                setattr(self.publication, key, value)
            if outcome is not None:
                action = "published" if row.status == PublicationStatus.DONE else "publish_failed"
                approver = await _approver(session, workspace_id, recording_id, self.platform)
                await repo.audit(
                    session,
                    workspace_id,
                    approver,
                    action,
                    f"recording:{recording_id}",
                    platforms=[self.platform],
                    **outcome,
                )
            await session.commit()

    def remembered(self) -> dict[str, Any]:
        publish = self.recording.media.get("publish")
        found = publish.get(self.platform) if isinstance(publish, dict) else None
        return dict(found) if isinstance(found, dict) else {}

    async def remember(self, **values: Any) -> None:
        """Record a step done at the platform in the recording's media, at once."""
        lock = _MEDIA_LOCKS.setdefault(self.recording.id, asyncio.Lock())
        async with lock, self.deps.sessions() as session:
            # Other platforms of the same recording write their own keys of the same column.
            row = await session.scalar(
                sa.select(Recording)
                .where(
                    Recording.workspace_id == self.recording.workspace_id,
                    Recording.id == self.recording.id,
                )
                .with_for_update()
            )
            if row is None:
                return
            media = dict(row.media)
            publish = dict(media.get("publish") or {})
            publish[self.platform] = {**dict(publish.get(self.platform) or {}), **values}
            media["publish"] = publish
            row.media = media
            await session.commit()
            self.recording.media = media

    def payload(self) -> dict[str, Any]:
        if self.credential is None:
            raise PublishFailure("not_connected", platform=self.name)
        box = self.deps.secrets
        if box is None:
            raise PublishFailure("not_connected", platform=self.name)
        try:
            payload = box.decrypt(self.credential.payload)
        except SecretBoxError:
            raise Reconnect from None
        if payload.get("broken"):
            raise Reconnect
        return payload

    async def store_payload(self, payload: dict[str, Any]) -> None:
        if self.credential is None or self.deps.secrets is None:
            return
        encrypted = self.deps.secrets.encrypt(payload)
        async with self.deps.sessions() as session:
            rows = await repo.credentials(
                session, self.recording.workspace_id, self.credential.provider
            )
            row = next((r for r in rows if r.id == self.credential.id), None)
            if row is not None:
                row.payload = encrypted
                await session.commit()
        self.credential.payload = encrypted

    async def reload_payload(self) -> dict[str, Any]:
        """The connection as stored now, decrypted: another job may have renewed its tokens,
        or a person connected the account again (which replaces the row)."""
        if self.credential is None or self.deps.secrets is None:
            raise PublishFailure("not_connected", platform=self.name)
        async with self.deps.sessions() as session:
            row = await _current_credential(session, self.recording.workspace_id, self.credential)
        if row is None:
            raise PublishFailure("not_connected", platform=self.name)
        self.credential = row
        return self.payload()

    # -- what the chat sees --

    async def show(self, state: str, **params: Any) -> None:
        text = _line(self.lang, state, self.platform, **params)
        lines = await _Lines(self.deps.redis, self.recording.id).set(self.platform, text)
        progress = _progress(self.deps, self.recording)
        if progress is not None:
            summaries = self.recording.media.get("summaries") or {}
            progress.update(render(self.recording, dict(summaries), lines))
        show_publishing(self.deps.progress, self.recording, self.metadata, lines)

    async def percent(self, done: int, total: int | None) -> None:
        value = min(100, done * 100 // total) if total else 0
        if value != self._percent:
            self._percent = value
            await self.show("uploading", percent=value)

    async def tell(self, text: str) -> None:
        recording = self.recording
        if recording.chat_id is None:
            return
        try:
            await self.deps.bot.send_message(
                recording.chat_id, text, message_thread_id=recording.thread_id
            )
        except TelegramAPIError as exc:
            log.warning("recording %s: chat not told: %s", recording.id, exc.message)


Publisher = Callable[[Target], Awaitable[str | None]]


def read_metadata(folder: Path, recording: Recording) -> dict[str, Any]:
    """metadata.json as compose wrote it; a title from the recording when it is missing."""
    data: dict[str, Any] = {}
    path = folder / files.METADATA
    if path.is_file():
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
            data = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            log.warning("recording %s: metadata.json unreadable", recording.id)
    compose = recording.media.get("compose") or {}
    title = str(data.get("title") or compose.get("title") or "").strip()
    data["title"] = title or Path(display_name(recording)).stem or display_name(recording)
    data["description"] = str(data.get("description") or "")
    data["tags"] = [str(t) for t in data.get("tags") or [] if str(t).strip()]
    return data


async def _publication(
    session: AsyncSession, workspace_id: int, recording_id: int, platform: str
) -> Publication | None:
    return await session.scalar(
        sa.select(Publication).where(
            Publication.workspace_id == workspace_id,
            Publication.recording_id == recording_id,
            Publication.platform == platform,
        )
    )


async def _current_credential(
    session: AsyncSession, workspace_id: int, credential: Credential
) -> Credential | None:
    """`credential`'s row as stored now, else the provider's newest (a new sign-in)."""
    rows = await repo.credentials(session, workspace_id, credential.provider)
    return next((r for r in rows if r.id == credential.id), rows[-1] if rows else None)


async def _approver(
    session: AsyncSession, workspace_id: int, recording_id: int, platform: str
) -> int | None:
    """Who asked for this platform last: the publish_requested event that queued it."""
    events = await session.scalars(
        sa.select(AuditEvent)
        .where(
            AuditEvent.workspace_id == workspace_id,
            AuditEvent.action == "publish_requested",
            AuditEvent.target == str(recording_id),
        )
        .order_by(AuditEvent.id.desc())
    )
    for event in events:
        if platform in ((event.details or {}).get("platforms") or []):
            return event.user_id
    return None


def _progress(deps: WorkerDeps, recording: Recording) -> ProgressMessage | None:
    if recording.chat_id is None or recording.progress_message_id is None:
        return None
    return deps.progress.message(recording.chat_id, recording.progress_message_id)


def _backoff(deps: WorkerDeps, job_try: int) -> float:
    base = deps.settings.publish_retry_delay * 30
    return min(base * 2 ** max(job_try - 1, 0), 1800.0)


async def run_publish(
    ctx: dict[str, Any], platform: str, workspace_id: int, recording_id: int
) -> None:
    deps: WorkerDeps = ctx["deps"]
    job_try = int(ctx.get("job_try") or 1)
    async with deps.sessions() as session:
        recording = await repo.get_recording(session, workspace_id, recording_id)
        publication = await _publication(session, workspace_id, recording_id, platform)
        if recording is None or publication is None:
            log.info("recording %s: publish:%s has nothing to do", recording_id, platform)
            return
        if publication.status in (PublicationStatus.DONE, PublicationStatus.FAILED):
            log.info("recording %s: stale publish:%s job ignored", recording_id, platform)
            await announce_if_finished(deps, workspace_id, recording_id)
            return
        credential = None
        if platform in PROVIDERS:
            found = await repo.credentials(session, workspace_id, PROVIDERS[platform])
            credential = found[-1] if found else None
        publication.status = PublicationStatus.UPLOADING
        publication.attempts += 1
        await session.commit()

    target = Target(deps, recording, platform, publication, credential, job_try)
    await target.show("starting")
    try:
        url = await PUBLISHERS[platform](target)
    except Transient as exc:
        await _retry_later(target, str(exc))
    except Reconnect:
        if not await _connection_broken(target):
            await _retry_later(target, "the connection was renewed meanwhile")
            return
        await _finish(target, error=target._("publish.error.reconnect", platform=target.name))
    except PublishFailure as exc:
        await _finish(target, error=target._(f"publish.error.{exc.code}", **exc.params))
    except (Retry, asyncio.CancelledError):
        raise
    except Exception:
        log.exception("recording %s: publish:%s crashed", recording_id, platform)
        await _finish(target, error=target._("publish.error.internal"))
    else:
        await _finish(target, url=url)


async def _connection_broken(target: Target) -> bool:
    """Mark the connection as needing a new sign-in and ask the chat for one.

    Only the credential this job used is marked: when the stored one changed meanwhile (a new
    sign-in, another job's refresh) it is left alone and False comes back, since that one may
    well work.
    """
    box = target.deps.secrets
    credential = target.credential
    if credential is not None and box is not None:
        try:
            payload = box.decrypt(credential.payload)
        except SecretBoxError:
            payload = {}
        payload["broken"] = True
        async with target.deps.sessions() as session:
            marked = await session.execute(
                sa.update(Credential)
                .where(
                    Credential.workspace_id == target.recording.workspace_id,
                    Credential.id == credential.id,
                    Credential.payload == credential.payload,
                )
                .values(payload=box.encrypt(payload))
            )
            await session.commit()
        if marked.rowcount != 1:
            async with target.deps.sessions() as session:
                row = await _current_credential(session, target.recording.workspace_id, credential)
            if row is not None:
                log.info(
                    "recording %s: %s connection renewed meanwhile; not marked broken",
                    target.recording.id,
                    target.platform,
                )
                return False
    await target.tell(target._("publish.reconnect", platform=target.name))
    return True


async def _retry_later(target: Target, why: str) -> None:
    """Raise arq's Retry with a growing delay; after MAX_TRIES, give the platform up."""
    if target.job_try >= MAX_TRIES:
        await _finish(target, error=target._("publish.error.gave_up", platform=target.name))
        return
    delay = _backoff(target.deps, target.job_try)
    log.warning(
        "recording %s: publish:%s will retry in %.0f s (%s)",
        target.recording.id,
        target.platform,
        delay,
        why,
    )
    await target.show("retrying")
    raise Retry(defer=delay)


async def _finish(target: Target, *, url: str | None = None, error: str | None = None) -> None:
    done = error is None
    fields: dict[str, Any] = {
        "status": PublicationStatus.DONE if done else PublicationStatus.FAILED,
        "error": error if not done else target.publication.error,
    }
    if done:
        fields["url"] = url
    # A file sent into the chat has no link; the log says where it went all the same.
    outcome = {"url": url} if done else {"error": (error or "")[:500]}
    await target.save(outcome=outcome, **fields)
    if done:
        await target.show("done")
    else:
        await target.show("failed", reason=_esc(error or ""))
        log.info("recording %s: publish:%s failed", target.recording.id, target.platform)
    await announce_if_finished(target.deps, target.recording.workspace_id, target.recording.id)


async def announce_if_finished(deps: WorkerDeps, workspace_id: int, recording_id: int) -> None:
    """Once every platform has an outcome: the recording's final status and one links message."""
    async with deps.sessions() as session:
        rows = await repo.publications(session, workspace_id, recording_id)
        if not rows or any(
            r.status in (PublicationStatus.PENDING, PublicationStatus.UPLOADING) for r in rows
        ):
            return
        recording = await repo.get_recording(session, workspace_id, recording_id)
        if recording is None:
            return
        published = [r for r in rows if r.status == PublicationStatus.DONE]
        values: dict[str, Any] = {"status": RecordingStatus.READY}
        if not published:
            # Nothing reached anyone: the recording failed, with every platform's reason.
            values = {
                "status": RecordingStatus.FAILED,
                "failure_code": "publish_failed",
                "failure_reason": "\n".join(f"{r.platform}: {r.error}" for r in rows)[:4000],
            }
        # The jobs of one recording finish in parallel; only the one that moves the status
        # announces, so the chat gets exactly one message.
        moved = await session.execute(
            sa.update(Recording)
            .where(
                Recording.workspace_id == workspace_id,
                Recording.id == recording_id,
                Recording.status == RecordingStatus.UPLOADING,
            )
            .values(**values)
        )
        if moved.rowcount != 1:
            return
        await session.commit()
    _MEDIA_LOCKS.pop(recording_id, None)
    log.info(
        "recording %s: publishing finished (%d of %d)", recording_id, len(published), len(rows)
    )
    if recording.chat_id is None:
        return
    folder = deps.store.recording_dir(workspace_id, recording_id)
    text = links_message(recording, rows, read_metadata(folder, recording)["title"])
    try:
        await deps.bot.send_message(
            recording.chat_id,
            text,
            message_thread_id=recording.thread_id,
            disable_web_page_preview=True,
        )
    except TelegramAPIError as exc:
        log.warning("recording %s: links message not sent: %s", recording_id, exc.message)
    if recording.progress_message_id is not None:
        await deps.progress.finish(recording.chat_id, recording.progress_message_id)
    await _Lines(deps.redis, recording_id).clear()
    # The card ends with every platform's outcome and what can still be done about it.
    await publishing_ended(deps, recording)


def links_message(recording: Recording, rows: Sequence[Publication], title: str) -> str:
    lang = recording.language
    lines = [gettext(lang, "publish.links_title", title=_esc(title))]
    failed = []
    for row in _in_order(rows):
        if row.status != PublicationStatus.DONE:
            failed.append(outcome_line(recording, row))
            continue
        lines.append(outcome_line(recording, row))
    if failed and len(failed) == len(rows):
        lines[0] = gettext(lang, "publish.all_failed", title=_esc(title))
    return "\n".join(lines + failed)


def _in_order(rows: Sequence[Publication]) -> list[Publication]:
    order = {p: i for i, p in enumerate(PLATFORMS)}
    return sorted(rows, key=lambda r: order.get(r.platform, len(order)))


def outcome_line(recording: Recording, row: Publication, lang: str | None = None) -> str:
    """Where one platform stands, for the review card and the links message: its link (the
    file in the chat for an export sent as a file), its reason when it failed, its state
    while it has no outcome yet. In the recording's language unless `lang` says otherwise."""
    lang = lang or recording.language
    name = gettext(lang, f"publish.platform.{row.platform}")
    if row.status == PublicationStatus.PENDING:
        return _line(lang, "queued", row.platform)
    if row.status == PublicationStatus.UPLOADING:
        return _line(lang, "starting", row.platform)
    if row.status != PublicationStatus.DONE:
        return gettext(lang, "publish.link_failed", platform=name, reason=_esc(row.error or ""))
    if row.platform == "export" and not row.url:
        line = gettext(lang, "publish.link_file", platform=name)
    elif row.platform == "export":
        until = _export_until(recording)
        line = gettext(lang, "publish.link_export", platform=name, url=_esc(row.url), until=until)
    else:
        line = gettext(lang, "publish.link", platform=name, url=_esc(row.url or ""))
    if row.error:
        line += "\n" + gettext(lang, "publish.link_note", note=_esc(row.error))
    return line


def outcome_lines(
    recording: Recording, rows: Sequence[Publication], lang: str | None = None
) -> list[str]:
    """`outcome_line` for every platform of the recording, in the order of PLATFORMS."""
    return [outcome_line(recording, row, lang) for row in _in_order(rows)]


def _export_until(recording: Recording) -> str:
    publish = recording.media.get("publish") or {}
    until = (publish.get("export") or {}).get("expires_at")
    if not until:
        return "—"
    return datetime.fromtimestamp(int(until), UTC).strftime("%Y-%m-%d %H:%M UTC")


# --- YouTube --------------------------------------------------------------------------------


async def publish_youtube_to(target: Target) -> str:
    settings = target.deps.settings
    if not settings.youtube_client_id or not settings.youtube_client_secret:
        raise PublishFailure("not_configured", platform=target.name)
    payload = target.payload()
    video = target.video()
    delay = target.deps.settings.publish_retry_delay
    expires = payload.get("expires_at")
    client = await asyncio.to_thread(
        YouTube,
        access_token=payload.get("access_token"),
        refresh_token=payload.get("refresh_token"),
        client_id=settings.youtube_client_id,
        client_secret=settings.youtube_client_secret.get_secret_value(),
        token_url=settings.google_token_url,
        api_url=settings.youtube_api_url,
        expires_at=datetime.fromisoformat(expires) if expires else None,
        scope=str(payload.get("scope") or ""),
        retry_delay=delay,
        max_delay=64.0 * delay,
    )
    yt = AsyncYouTube(client)
    try:
        video_id = target.publication.remote_id
        if video_id is None:
            video_id = await _youtube_upload(target, yt, video)
        await _youtube_extras(target, yt, video_id)
    except QuotaExceeded as exc:
        await _quota_wait(target, exc.reset_at)
    except (YouTubeTransient, google_oauth.OAuthTransient) as exc:
        raise Transient(f"YouTube: {exc}") from None
    except (YouTubeAuthError, google_oauth.OAuthRevoked):
        raise Reconnect from None
    except YouTubeError as exc:
        raise PublishFailure("youtube_refused", reason=exc.message or exc.reason) from None
    finally:
        await _keep_google_tokens(target, yt, payload)
    return youtube_url(video_id)


def youtube_url(video_id: str) -> str:
    return f"https://youtu.be/{video_id}"


def youtube_metadata(target: Target) -> VideoMetadata:
    meta = target.metadata
    privacy = str(target.options.get("privacy") or "private")
    metadata: VideoMetadata = {
        # YouTube refuses angle brackets in titles and descriptions.
        "title": _no_angles(meta["title"])[:100],
        "description": _no_angles(meta["description"]),
        "categoryId": EDUCATION_CATEGORY,
        "defaultLanguage": target.language,
        "defaultAudioLanguage": target.language,
        "privacyStatus": privacy if privacy in PRIVACY else "private",
        "selfDeclaredMadeForKids": False,
    }
    if meta["tags"]:
        metadata["tags"] = meta["tags"]
    return metadata


def _no_angles(text: str) -> str:
    return text.replace("<", "‹").replace(">", "›")


async def _youtube_upload(target: Target, yt: AsyncYouTube, video: Path) -> str:
    metadata = youtube_metadata(target)
    chunk = target.deps.settings.youtube_chunk_size
    chunk = max(UPLOAD_GRANULARITY, chunk // UPLOAD_GRANULARITY * UPLOAD_GRANULARITY)
    session_uri = target.publication.session_uri
    if session_uri is None:
        session_uri = await yt.start_upload(video, metadata)
        await target.save(session_uri=session_uri)
    try:
        video_id = await yt.upload(video, session_uri, chunk_size=chunk, on_progress=target.percent)
    except UploadSessionExpired:
        # The old session never made a video, so a new one cannot make a second.
        log.info(
            "recording %s: YouTube upload session expired, opening a new one", target.recording.id
        )
        session_uri = await yt.start_upload(video, metadata)
        await target.save(session_uri=session_uri)
        video_id = await yt.upload(video, session_uri, chunk_size=chunk, on_progress=target.percent)
    await target.save(remote_id=video_id, url=youtube_url(video_id))
    return video_id


async def _youtube_extras(target: Target, yt: AsyncYouTube, video_id: str) -> None:
    done = target.remembered()
    notes: list[str] = list(done.get("notes") or [])
    steps: list[tuple[str, Callable[[], Awaitable[Any]]]] = []
    srt = target.file(files.SRT)
    thumbnail = target.file(files.THUMBNAIL)
    playlist = str(target.options.get("playlist_id") or "")
    if srt is not None:
        name = target._("publish.caption_name")
        steps.append(("captions", lambda: yt.set_captions(video_id, srt, target.language, name)))
    if thumbnail is not None:
        steps.append(("thumbnail", lambda: yt.set_thumbnail(video_id, thumbnail)))
    if playlist:
        steps.append(("playlist", lambda: yt.add_to_playlist(video_id, playlist)))
    for step, call in steps:
        if step in done:
            continue
        await target.show("finishing")
        try:
            result = await call()
        except (QuotaExceeded, YouTubeTransient, YouTubeAuthError):
            raise
        except YouTubeError as exc:
            # The video is up; a part YouTube refuses becomes a note, not a failure.
            log.info("recording %s: YouTube %s refused: %s", target.recording.id, step, exc.reason)
            notes.append(target._(f"publish.warning.{step}", reason=exc.message or exc.reason))
            await target.remember(**{step: False, "notes": notes})
            continue
        await target.remember(**{step: result if result is not None else True})
    if notes:
        await target.save(error="; ".join(notes)[:2000])


async def _quota_wait(target: Target, reset_at: datetime) -> None:
    when = reset_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    await target.show("quota", time=when)
    told = await target.deps.redis.set(
        f"leap:publish:quota:{target.recording.id}:{int(reset_at.timestamp())}",
        1,
        nx=True,
        ex=2 * 24 * 3600,
    )
    if told:
        await target.tell(target._("publish.quota_message", time=when))
    wait = max((reset_at - datetime.now(UTC)).total_seconds(), 60.0) + 60.0
    log.info("recording %s: YouTube quota spent, waiting until %s", target.recording.id, when)
    raise Retry(defer=timedelta(seconds=wait))


async def _keep_google_tokens(target: Target, yt: AsyncYouTube, payload: dict[str, Any]) -> None:
    tokens = yt.tokens
    if not tokens.access_token or tokens.access_token == payload.get("access_token"):
        return
    refreshed = {
        **payload,
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token or payload.get("refresh_token"),
        "expires_at": tokens.expires_at.isoformat(),
    }
    await target.store_payload(refreshed)
    payload.update(refreshed)


# --- VK -------------------------------------------------------------------------------------


async def publish_vk_to(target: Target) -> str:
    settings = target.deps.settings
    payload = target.payload()
    group_id = payload.get("group_id")
    if not group_id:
        raise PublishFailure("vk_no_group")
    video = target.video()
    access_token = await _vk_access_token(target, payload)
    delay = target.deps.settings.publish_retry_delay
    vk = VkVideo(
        access_token,
        api_url=settings.vk_api_url,
        retry_delays=(delay, 2 * delay, 5 * delay),
        upload_retry_delays=(2 * delay, 5 * delay, 15 * delay),
    )
    try:
        return await _vk_upload(target, vk, video, int(group_id))
    except VkAuthError:
        raise Reconnect from None
    except VkError as exc:
        if exc.retryable:
            raise Transient(f"VK: {exc}") from None
        raise PublishFailure("vk_refused", reason=exc.message) from None
    finally:
        vk.close()


async def _vk_access_token(target: Target, payload: dict[str, Any]) -> str:
    """The stored access token, refreshed first when it is about to run out (VK's last 1 h).

    VK ID refresh tokens are single-use, and every publication of the workspace holds the same
    one: the refresh happens under a Redis lock per credential, against the credential as it is
    stored by then, so a second job finds the pair the first one made instead of spending the
    old token again (which VK ID answers with invalid_grant).
    """
    tokens = _vk_tokens(payload)
    if not tokens.expires_within(VK_REFRESH_MARGIN):
        return tokens.access_token
    if target.credential is None:
        raise Reconnect
    lock = target.deps.redis.lock(
        f"leap:lock:credential:{target.credential.id}",
        timeout=CREDENTIAL_LOCK_SECONDS,
        blocking_timeout=CREDENTIAL_LOCK_SECONDS + 30,
    )
    if not await lock.acquire():
        raise Transient("VK ID: the connection is being refreshed by another job")
    try:
        return await _vk_refresh(target, payload)
    finally:
        # An expired lock is no harm here: the new pair is stored before it is used.
        with contextlib.suppress(LockError):
            await lock.release()


async def _vk_refresh(target: Target, payload: dict[str, Any]) -> str:
    """Under the credential's lock: the stored pair if another job renewed it, else a refresh."""
    current = await target.reload_payload()
    tokens = _vk_tokens(current)
    if not tokens.expires_within(VK_REFRESH_MARGIN):
        payload.update(current)
        return tokens.access_token
    looked_again = False
    while True:
        try:
            fresh = await vk_oauth.refresh(
                tokens.refresh_token,
                tokens.device_id,
                client_id=target.deps.settings.vk_client_id or "",
                oauth_url=target.deps.settings.vk_oauth_url,
            )
            break
        except VkAuthError:
            # Spent by someone the lock does not cover (a new sign-in, an older worker): the
            # stored credential may hold a newer pair. Only when it does not is it gone.
            if looked_again:
                raise Reconnect from None
            looked_again = True
            current = await target.reload_payload()
            newer = _vk_tokens(current)
            if newer.refresh_token == tokens.refresh_token:
                raise Reconnect from None
            tokens = newer
            if not tokens.expires_within(VK_REFRESH_MARGIN):
                payload.update(current)
                return tokens.access_token
        except VkError as exc:
            if exc.retryable:
                raise Transient(f"VK ID: {exc}") from None
            raise Reconnect from None
    # VK ID rotates the refresh token: the new pair must be stored before anything else.
    current.update(
        access_token=fresh.access_token,
        refresh_token=fresh.refresh_token,
        expires_at=fresh.expires_at.isoformat(),
        device_id=fresh.device_id,
    )
    await target.store_payload(current)
    payload.update(current)
    return fresh.access_token


def _vk_tokens(payload: dict[str, Any]) -> vk_oauth.VkTokens:
    try:
        return vk_oauth.VkTokens(
            access_token=str(payload["access_token"]),
            refresh_token=str(payload["refresh_token"]),
            expires_at=datetime.fromisoformat(str(payload["expires_at"])),
            user_id=int(payload["user_id"]),
            device_id=str(payload["device_id"]),
        )
    except (KeyError, TypeError, ValueError):
        raise Reconnect from None


async def _vk_upload(target: Target, vk: VkVideo, video: Path, group_id: int) -> str:
    remote = target.publication.remote_id
    if remote:
        owner_id, video_id = (int(part) for part in remote.split("_", 1))
        info = await vk.find_video_async(owner_id, video_id)
        if info is not None and not info.processing:
            return video_url(owner_id, video_id)
        if info is not None and target.publication.session_uri:
            # The slot exists and still waits for its bytes: send them to the same slot.
            slot = VkUploadTarget(owner_id, video_id, target.publication.session_uri)
            await vk.send_file_async(slot, video, on_progress=target.percent)
            return slot.url
        await target.save(remote_id=None, session_uri=None)
    meta = target.metadata
    album = target.options.get("vk_album_id")
    slot = await vk.save_async(
        title=meta["title"][:128],
        description=vk_description(meta, target.chapters()),
        group_id=group_id,
        album_id=int(album) if album else None,
    )
    await target.save(
        remote_id=f"{slot.owner_id}_{slot.video_id}", session_uri=slot.upload_url, url=slot.url
    )
    await vk.send_file_async(slot, video, on_progress=target.percent)
    return slot.url


def vk_description(meta: dict[str, Any], chapters: list[Chapter]) -> str:
    """The description, with the chapter list appended when compose did not put it in."""
    description = meta["description"].strip()
    block = chapters_text(chapters)
    if block and block not in description:
        description = f"{description}\n\n{block}" if description else block
    return description[:5000]


# --- Telegram channel -----------------------------------------------------------------------


async def publish_telegram_to(target: Target) -> str:
    payload = target.payload()
    if target.publication.remote_id and target.publication.url:
        return target.publication.url
    if target.publication.session_uri == SENDING:
        # An earlier try sent the post and never heard back (a lost answer, a stopped worker).
        raise PublishFailure("telegram_maybe_sent")
    video = target.video()
    bytes_ = video.stat().st_size
    limit = upload_limit(target.deps)
    if bytes_ > limit:
        raise PublishFailure(
            "telegram_too_big", size=size(target.lang, bytes_), limit_mb=limit // (1024 * 1024)
        )
    chat_id = int(payload["chat_id"])
    text = telegram_channel.caption(target.metadata["title"], target.chapters())
    media = target.recording.media
    source = media.get("source") or {}
    duration = (media.get("trim") or {}).get("duration") or source.get("duration")
    seconds = int(duration) if duration else None
    timeout = max(300, bytes_ // (256 * 1024))
    await target.show("sending")
    await target.save(session_uri=SENDING)
    try:
        if is_audio_only(target.recording):
            message = await _post_audio(target, chat_id, video, text, seconds, timeout)
        else:
            message = await telegram_channel.post_video(
                target.deps.bot,
                chat_id,
                video,
                text,
                duration=seconds,
                width=source.get("width"),
                height=source.get("height"),
                timeout=timeout,
            )
    except TelegramRetryAfter as exc:
        await target.save(session_uri=None)
        raise Retry(defer=exc.retry_after + 1) from None
    except TelegramEntityTooLarge:
        await target.save(session_uri=None)
        raise PublishFailure(
            "telegram_too_big", size=size(target.lang, bytes_), limit_mb=limit // (1024 * 1024)
        ) from None
    except TelegramForbiddenError:
        await target.save(session_uri=None)
        raise PublishFailure("telegram_not_admin") from None
    except TelegramBadRequest as exc:
        await target.save(session_uri=None)
        if "chat not found" in exc.message.lower():
            raise PublishFailure("telegram_not_admin") from None
        raise PublishFailure("telegram_refused", reason=exc.message) from None
    except (TelegramNetworkError, TelegramServerError, ClientDecodeError) as exc:
        await _lost_answer(target, exc)
        raise PublishFailure("telegram_maybe_sent") from None
    url = telegram_channel.post_link(chat_id, payload.get("username"), message.message_id)
    await target.save(remote_id=str(message.message_id), url=url, session_uri=None)
    return url


async def _lost_answer(target: Target, exc: Exception) -> None:
    """A send that failed without a clear answer: retry only when nothing left this machine.

    A refused connection means the request never reached Telegram, so another try is safe.
    Anything later (a timeout, a 5xx, a broken answer) may have come after Telegram took the
    message; the caller then fails the platform with a reason that says so, rather than risk
    a second copy.
    """
    log.warning(
        "recording %s: publish:%s send failed: %s",
        target.recording.id,
        target.platform,
        getattr(exc, "message", None) or exc,
    )
    if _never_sent(exc):
        await target.save(session_uri=None)
        raise Transient(f"Telegram: {getattr(exc, 'message', exc)}")


def _never_sent(exc: BaseException) -> bool:
    """Whether `exc` comes from failing to connect, before any byte of the request went out."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


async def _post_audio(
    target: Target, chat_id: int, sound: Path, text: str, seconds: int | None, timeout: int
) -> Message:
    """A sound-only recording goes out as audio: a player in the channel, not a black video."""
    title = target.metadata["title"]
    return await target.deps.bot.send_audio(
        chat_id,
        FSInputFile(sound, filename=f"{archive_name(title, target.recording.id)[:-4]}.m4a"),
        caption=text,
        duration=seconds,
        title=title[:64],
        request_timeout=timeout,
    )


# --- local export ---------------------------------------------------------------------------


async def publish_export_to(target: Target) -> str | None:
    if target.publication.remote_id:
        return target.publication.url
    if target.publication.session_uri == SENDING:
        # An earlier try sent the archive and never heard back: see publish_telegram_to.
        raise PublishFailure("export_maybe_sent")
    deps = target.deps
    recording = target.recording
    target.video()
    meta = target.metadata
    archive = target.folder / export.ARCHIVE
    await target.show("packing")
    total = await asyncio.to_thread(
        export.build_archive,
        archive,
        [
            (target.folder / name, name)
            for name in (files.VIDEO, files.SRT, files.VTT, files.METADATA)
        ],
        {ARCHIVE_TEXT: description_text(meta, target.chapters())},
    )
    if total <= upload_limit(deps) and recording.chat_id is not None:
        await target.show("sending")
        await target.save(session_uri=SENDING)
        try:
            message = await deps.bot.send_document(
                recording.chat_id,
                FSInputFile(archive, filename=archive_name(meta["title"], recording.id)),
                caption=target._("publish.export_caption", title=_esc(meta["title"])),
                message_thread_id=recording.thread_id,
                request_timeout=max(300, total // (256 * 1024)),
            )
        except TelegramRetryAfter as exc:
            await target.save(session_uri=None)
            raise Retry(defer=exc.retry_after + 1) from None
        except TelegramEntityTooLarge as exc:  # a network error by class, a refusal in fact
            await target.save(session_uri=None)
            raise PublishFailure("export_refused", reason=exc.message) from None
        except (TelegramNetworkError, TelegramServerError, ClientDecodeError) as exc:
            await _lost_answer(target, exc)
            raise PublishFailure("export_maybe_sent") from None
        except TelegramAPIError as exc:
            await target.save(session_uri=None)
            raise PublishFailure("export_refused", reason=exc.message) from None
        await target.save(remote_id=f"message:{message.message_id}", session_uri=None)
        return None
    secret = deps.settings.secret_key.get_secret_value() if deps.settings.secret_key else ""
    base = deps.settings.public_base_url
    if not base or not secret:
        raise PublishFailure("export_no_link", size=size(target.lang, total))
    # The link serves the archive from the bucket when media lives in one: it must be there
    # before anyone can follow the link.
    await deps.store.put(recording.workspace_id, recording.id, export.ARCHIVE)
    hours = deps.settings.export_link_hours
    expires = int((datetime.now(UTC) + timedelta(hours=hours)).timestamp())
    token = export.sign(export.link_key(secret), recording.workspace_id, recording.id, expires)
    url = f"{base.rstrip('/')}/export/{token}"
    await target.remember(expires_at=expires)
    await target.save(remote_id="link", url=url)
    return url


def description_text(meta: dict[str, Any], chapters: list[Chapter]) -> str:
    return f"{meta['title']}\n\n{vk_description(meta, chapters)}".strip() + "\n"


def archive_name(title: str, recording_id: int) -> str:
    """A file name for the person's download folder; never a path on our disk."""
    cleaned = re.sub(r'[\\/:*?"<>|\x00-\x1f]+', " ", title)
    cleaned = " ".join(cleaned.split())[:80].strip(" .")
    return f"{cleaned or f'lecture-{recording_id}'}.zip"


# --- arq ------------------------------------------------------------------------------------

PUBLISHERS: dict[str, Publisher] = {
    "youtube": publish_youtube_to,
    "vk": publish_vk_to,
    "telegram": publish_telegram_to,
    "export": publish_export_to,
}


def _function(platform: str) -> Function:
    async def job(ctx: dict[str, Any], workspace_id: int, recording_id: int) -> None:
        await run_publish(ctx, platform, workspace_id, recording_id)

    name = f"publish_{platform}"
    job.__name__ = job.__qualname__ = name
    # keep_result=0 frees the job id when the job ends, so publishing can be asked for again.
    return func(job, name=name, keep_result=0, max_tries=MAX_TRIES + 5, timeout=TIMEOUTS[platform])


# The arq functions of the io worker that publish (`publish_youtube`, ...).
FUNCTIONS: list[Function] = [_function(platform) for platform in PLATFORMS]
