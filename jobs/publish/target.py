"""`Target`: what one publish job works on, and the way it records what it made.

A platform's publisher gets a Target and nothing else: the recording's files and the
template's choices, the Publication row, the connection's decrypted payload, and the means to
store progress at once.

- Never twice: `save` writes fields of the Publication row in their own commit the moment a
  platform hands them out (a remote id, its typed resume state: a resumable session, an upload
  address, a send in flight), so a crash right after leaves them for the next try. `remember`
  does the same for steps a platform does not make idempotent (YouTube's captions, thumbnail,
  playlist item), in ``recording.media["publish"][platform]``, under a lock per recording
  because every platform of the recording writes its own key of that one column.
- The audit log never disagrees with the row: an outcome is logged in the commit that stores it,
  in the name of whoever asked for the platform last.
- A connection is read as it is stored now: `reload_payload` finds another job's renewed tokens
  or a new sign-in (which replaces the row).
- What the chat sees is drawn by the job that made the Target (`draw`): a platform only says
  which state it is in (``publish.line.<state>``), so this module knows nothing of cards.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from aiogram.exceptions import TelegramAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from jobs import files
from jobs.context import WorkerDeps
from jobs.publish.errors import PublishFailure, Reconnect
from jobs.publish.metadata import read_metadata
from jobs.publish.resume import Resume
from locales import gettext
from pipeline.timecodes import Chapter
from storage import repo
from storage.crypto import SecretBoxError
from storage.models import AuditEvent, Credential, Publication, PublicationStatus, Recording

log = logging.getLogger(__name__)

R = TypeVar("R", bound=Resume)

# One lock per recording being published in this process; dropped when publishing ends.
MEDIA_LOCKS: dict[int, asyncio.Lock] = {}


@dataclass
class Target:
    """A publish job's view of its recording: files, options, its row, its connection."""

    deps: WorkerDeps
    recording: Recording
    platform: str
    publication: Publication
    credential: Credential | None
    job_try: int
    # Draws the platform's line (a ``publish.line.<state>`` and its parameters) in the chat.
    draw: Draw = field(repr=False)
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

    def resume(self, model: type[R]) -> R | None:
        """Where an earlier try of this platform left off, as `model`; None: nothing to pick up."""
        stored = self.publication.resume
        return None if stored is None else model.model_validate(stored)

    async def save(self, *, outcome: dict[str, Any] | None = None, **fields: Any) -> None:
        """Store fields of the Publication row now: remote ids must outlive a crash.

        `outcome` (the details of a ``published`` or ``publish_failed`` audit event) goes into
        the audit log in the same commit, so the log never disagrees with the row. A `Resume`
        is stored as its JSON.
        """
        fields = {k: v.stored() if isinstance(v, Resume) else v for k, v in fields.items()}
        workspace_id, recording_id = self.recording.workspace_id, self.recording.id
        async with self.deps.sessions() as session:
            row = await publication_row(session, workspace_id, recording_id, self.platform)
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
        lock = MEDIA_LOCKS.setdefault(self.recording.id, asyncio.Lock())
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
            row = await current_credential(session, self.recording.workspace_id, self.credential)
        if row is None:
            raise PublishFailure("not_connected", platform=self.name)
        self.credential = row
        return self.payload()

    # -- what the chat sees --

    async def show(self, state: str, **params: Any) -> None:
        await self.draw(self, state, params)

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


# Draws a Target's line in the chat: the target, a ``publish.line.<state>`` and its parameters.
Draw = Callable[[Target, str, dict[str, Any]], Awaitable[None]]


async def publication_row(
    session: AsyncSession, workspace_id: int, recording_id: int, platform: str
) -> Publication | None:
    return await session.scalar(
        sa.select(Publication).where(
            Publication.workspace_id == workspace_id,
            Publication.recording_id == recording_id,
            Publication.platform == platform,
        )
    )


async def current_credential(
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
