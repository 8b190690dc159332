"""What a workspace may use (storage, minutes a month, recordings at once) and what it uses.

Use is read from what exists, never from counters: the media store's folder for storage, the
recordings' rows for minutes and for work in progress. A recording counts from the moment it
is accepted, with the length and size its source declared, and with the measured ones once
its download has been probed; so two recordings sent together cannot both slip under a limit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from storage import repo
from storage.files import MediaStore
from storage.models import TERMINAL_STATUSES, AuditEvent, Recording, Workspace

QUOTA_KEY = "quota"
GB = 1_000_000_000

Kind = Literal["storage", "minutes", "concurrent"]


class QuotaDefaults(Protocol):
    """The operator's defaults (the settings class has them); 0 means no limit."""

    quota_storage_gb: float
    quota_minutes: float
    quota_concurrent: int


@dataclass(frozen=True)
class Limits:
    """A workspace's limits; 0 in any of them means there is none."""

    storage_bytes: int
    minutes: float
    concurrent: int


@dataclass(frozen=True)
class Usage:
    storage_bytes: int
    seconds: float
    active: int

    @property
    def minutes(self) -> float:
        return self.seconds / 60


@dataclass(frozen=True)
class Refusal:
    """Why a new recording does not fit: which limit, what is used, and what was asked for.

    Units follow the limit: bytes for storage, minutes for minutes, recordings for concurrent.
    `asked` is None when the source did not say how big or long it is.
    """

    kind: Kind
    used: float
    limit: float
    asked: float | None


def overrides(workspace: Workspace) -> dict[str, float]:
    """The operator's own numbers for this workspace (`leap workspace set-quota`)."""
    raw = (workspace.settings or {}).get(QUOTA_KEY) or {}
    return {k: float(v) for k, v in raw.items() if k in ("storage_gb", "minutes", "concurrent")}


def limits(workspace: Workspace, defaults: QuotaDefaults) -> Limits:
    own = overrides(workspace)
    storage_gb = own.get("storage_gb", defaults.quota_storage_gb)
    return Limits(
        storage_bytes=max(int(storage_gb * GB), 0),
        minutes=max(own.get("minutes", defaults.quota_minutes), 0.0),
        concurrent=max(int(own.get("concurrent", defaults.quota_concurrent)), 0),
    )


def set_overrides(workspace: Workspace, **values: float | None) -> None:
    """Change some of the workspace's own limits; None leaves a limit as it is."""
    own: dict[str, Any] = dict(overrides(workspace))
    own.update({k: v for k, v in values.items() if v is not None})
    workspace.settings = {**(workspace.settings or {}), QUOTA_KEY: own}


def change_overrides(
    settings: dict[str, Any], values: dict[str, float | None], *, reset: bool = False
) -> None:
    """As `set_overrides`, in a workspace's settings dict (see repo.update_workspace_settings);
    with `reset`, the limits not named go back to the defaults."""
    own: dict[str, Any] = {} if reset else dict(settings.get(QUOTA_KEY) or {})
    own.update({k: v for k, v in values.items() if v is not None})
    if own:
        settings[QUOTA_KEY] = own
    else:
        settings.pop(QUOTA_KEY, None)


def recording_seconds(media: dict[str, Any], options: dict[str, Any]) -> float:
    """A recording's source length: measured once fetched, else what its source declared."""
    source = media.get("source") or {}
    trim = media.get("trim") or {}
    zoom = options.get("zoom") or {}
    for value in (
        source.get("duration"),
        trim.get("source_duration"),
        options.get("declared_seconds"),
        zoom.get("duration"),
    ):
        if value:
            return float(value)
    return 0.0


def month_start(now: datetime | None = None) -> datetime:
    now = now or datetime.now(UTC)
    return datetime(now.year, now.month, 1, tzinfo=UTC)


async def month_seconds(
    session: AsyncSession, workspace_id: int, now: datetime | None = None
) -> float:
    """Source seconds of the recordings created this calendar month (UTC)."""
    since = month_start(now)
    rows = await session.execute(
        sa.select(Recording.media, Recording.options).where(
            Recording.workspace_id == workspace_id, Recording.created_at >= since
        )
    )
    total = sum(recording_seconds(media or {}, options or {}) for media, options in rows.all())
    # A recording deleted this month was still processed this month, when its trace says how
    # long it was.
    month = since.strftime("%Y-%m")
    events = await session.scalars(
        sa.select(AuditEvent.details).where(
            AuditEvent.workspace_id == workspace_id,
            AuditEvent.action == "delete",
            AuditEvent.created_at >= since,
        )
    )
    for details in events.all():
        if (details or {}).get("month") == month:
            total += float((details or {}).get("source_seconds") or 0)
    return total


async def storage_bytes(session: AsyncSession, store: MediaStore, workspace_id: int) -> int:
    """Bytes on disk, plus what downloads under way have still to bring."""
    rows = await session.execute(
        sa.select(Recording.id, Recording.source_size, Recording.options).where(
            Recording.workspace_id == workspace_id,
            Recording.status.not_in(list(TERMINAL_STATUSES)),
            Recording.stage == "fetch",
        )
    )
    fetching = []
    for rec, known, options in rows.all():
        expected = known or (options or {}).get("declared_bytes") or 0
        if expected:
            fetching.append((int(rec), int(expected)))
    return await asyncio.to_thread(_on_disk, store, workspace_id, fetching)


def _on_disk(store: MediaStore, workspace_id: int, fetching: Sequence[tuple[int, int]]) -> int:
    used = store.usage(workspace_id)
    for recording_id, expected in fetching:
        folder = store.recording_dir(workspace_id, recording_id, create=False)
        used += max(expected - _size(folder), 0)
    return used


def _size(path: Path) -> int:
    if not path.exists():
        return 0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


async def usage(session: AsyncSession, store: MediaStore, workspace_id: int) -> Usage:
    return Usage(
        storage_bytes=await storage_bytes(session, store, workspace_id),
        seconds=await month_seconds(session, workspace_id),
        active=await repo.count_active(session, workspace_id),
    )


async def check(
    session: AsyncSession,
    store: MediaStore,
    workspace: Workspace,
    defaults: QuotaDefaults,
    *,
    size: int | None = None,
    seconds: float | None = None,
    count: int = 1,
) -> Refusal | None:
    """Whether `count` new recordings of this size and length fit; None when they do.

    Unknown sizes and lengths are checked as far as they can be: a workspace already at a
    limit takes nothing more.
    """
    limit = limits(workspace, defaults)
    if limit.concurrent:
        active = await repo.count_active(session, workspace.id)
        if active + count > limit.concurrent:
            return Refusal("concurrent", active, limit.concurrent, count)
    if limit.minutes:
        used = await month_seconds(session, workspace.id) / 60
        asked = seconds / 60 if seconds else None
        if used + (asked or 0) > limit.minutes or (asked is None and used >= limit.minutes):
            return Refusal("minutes", used, limit.minutes, asked)
    if limit.storage_bytes:
        stored = await storage_bytes(session, store, workspace.id)
        if stored + (size or 0) > limit.storage_bytes or (
            not size and stored >= limit.storage_bytes
        ):
            return Refusal("storage", stored, limit.storage_bytes, size or None)
    return None
