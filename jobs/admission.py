"""Admission: the one door every new recording comes in through.

A file sent to the chat, a link, a Zoom recording picked in /zoom and one the Zoom sync finds
all become a recording through `admit`, which keeps the rules they share:

- One new recording of a workspace at a time (`control.quota_turn`), from the quota check to
  the commit, across every bot and worker process: two recordings sent together cannot both
  slip under a limit that neither has been counted in yet.
- The quotas are checked with the numbers the recording is counted by once it exists: the
  size and length its source declared (see `storage.quotas`). Nothing is created for a
  recording that does not fit.
- A source that comes in once per workspace (a Zoom meeting, whichever of its files) is
  looked for again inside the turn, so a press in /zoom and the sync never both import it.
- The row, its fetch stage and its audit trace (when there is one) are saved together; the
  progress message is posted after that, outside the turn; the fetch is handed to the workers
  last, once everything they will load is saved.

Nothing here words a message: a refusal comes back as a value (`quotas.Refusal` with the
limit's numbers, or `AlreadyAdmitted`), and each caller says it in its reader's language.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession

from jobs import control
from jobs.enqueue import enqueue_stage
from jobs.transcribe import language_supported
from leap.settings import Settings
from storage import quotas, repo
from storage.files import MediaStore, safe_ext
from storage.models import Recording, SourceKind, Workspace

log = logging.getLogger(__name__)

FIRST_STAGE = "fetch"
NAME_CHARS = 512


@dataclass
class NewRecording:
    """A recording to be: where it comes from, where it reports, and what it asks for."""

    workspace: Workspace
    source_kind: SourceKind
    source_ref: str
    source_name: str
    # As the source names it; made safe for a file name here.
    source_ext: str
    language: str
    chat_id: int
    thread_id: int | None = None
    created_by: int | None = None
    source_size: int | None = None
    # A message the recording reports in from the start (a link's "looking at it" message).
    progress_message_id: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    # A start of `source_ref` the workspace admits once: a Zoom meeting, whichever file.
    once_per: str | None = None
    # The trace an import leaves in the audit log: its action and details.
    audit: tuple[str, dict[str, Any]] | None = None

    @property
    def declared_size(self) -> int | None:
        """Bytes the source says it has, as the storage quota counts them until download."""
        return self.source_size or self.options.get("declared_bytes") or None

    @property
    def declared_seconds(self) -> float | None:
        """Its length as the source says, as the month's minutes count it until download."""
        return quotas.recording_seconds({}, self.options) or None


@dataclass(frozen=True)
class AlreadyAdmitted:
    """The workspace has the source already: another press or the sync took it meanwhile."""

    once_per: str


# Why `admit` created nothing: the quota the recording would pass, with the numbers a reply
# shows, or a source the workspace takes only once.
Refusal = quotas.Refusal | AlreadyAdmitted

# Posts the progress message of an admitted recording; returns its id, or None when it posted
# none (or edited the message the recording was created with).
Announce = Callable[[Recording], Awaitable[int | None]]


def pipeline_options(workspace: Workspace, settings: Settings) -> dict[str, Any]:
    """What the pipeline needs from the workspace's settings, fixed when a recording arrives."""
    chosen = workspace.settings or {}
    return {
        "remove_pauses": bool(chosen.get("remove_pauses", False)),
        "transcribe_language": str(
            chosen.get("transcribe_language") or settings.transcribe_language
        ),
    }


def transcribable(workspace: Workspace, settings: Settings) -> bool:
    """Whether the speech engine understands (or detects) the workspace's lecture language.

    Asked before any work is done for a recording, so that a refusal comes at once.
    """
    chosen = str(pipeline_options(workspace, settings)["transcribe_language"])
    return language_supported(settings, chosen)


async def admit(
    session: AsyncSession,
    redis: ArqRedis,
    store: MediaStore,
    settings: Settings,
    new: NewRecording,
    announce: Announce | None = None,
) -> Recording | Refusal:
    """Check and create one recording, post its progress message, and queue its download.

    The caller's session is committed first (see below), and again once the recording is
    created; after a refusal it holds nothing either.
    """
    workspace = new.workspace
    # Whatever the caller read or wrote is saved before waiting for the turn: on SQLite an open
    # write would hold the database against the turn's holder (each waiting for the other
    # until "database is locked"), and an old read snapshot would miss what the holder counts.
    await session.commit()
    async with control.quota_turn(redis, workspace.id):
        refusal = await _refusal(session, store, settings, new)
        if refusal is not None:
            # The check read the database; nothing is held while the caller answers.
            await session.commit()
            return refusal
        recording = await _create(session, new)
        # Counted from here on by whoever checks next.
        await session.commit()
    if announce is not None:
        progress_id = await announce(recording)
        if progress_id is not None:
            recording.progress_message_id = progress_id
            # The worker reports in the message it finds on the row.
            await session.commit()
    await enqueue_stage(redis, workspace.id, recording.id, FIRST_STAGE)
    log.info(
        "recording %s admitted from %s in workspace %s",
        recording.id,
        new.source_kind.value,
        workspace.id,
    )
    return recording


async def _refusal(
    session: AsyncSession, store: MediaStore, settings: Settings, new: NewRecording
) -> Refusal | None:
    if new.once_per is not None and await _has_source(session, new):
        return AlreadyAdmitted(new.once_per)
    return await quotas.check(
        session,
        store,
        new.workspace,
        settings,
        size=new.declared_size,
        seconds=new.declared_seconds,
    )


async def _has_source(session: AsyncSession, new: NewRecording) -> bool:
    assert new.once_per is not None
    found = await session.scalar(
        sa.select(Recording.id)
        .where(
            Recording.workspace_id == new.workspace.id,
            Recording.source_kind == new.source_kind,
            Recording.source_ref.startswith(new.once_per, autoescape=True),
        )
        .limit(1)
    )
    return found is not None


async def _create(session: AsyncSession, new: NewRecording) -> Recording:
    """The recording's row, its first stage and its audit trace, not yet committed."""
    workspace_id = new.workspace.id
    recording = await repo.create_recording(
        session,
        workspace_id,
        created_by=new.created_by,
        source_kind=new.source_kind,
        source_ref=new.source_ref,
        source_name=new.source_name[:NAME_CHARS],
        source_size=new.source_size,
        source_ext=safe_ext(new.source_ext),
        language=new.language,
        chat_id=new.chat_id,
        thread_id=new.thread_id,
        progress_message_id=new.progress_message_id,
        options=new.options,
        stage=FIRST_STAGE,
    )
    await repo.stage_run(session, workspace_id, recording.id, FIRST_STAGE)
    if new.audit is not None:
        action, details = new.audit
        await repo.audit(
            session, workspace_id, new.created_by, action, f"recording:{recording.id}", **details
        )
    return recording
