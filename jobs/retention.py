"""Old media makes room: recordings past retention lose their files, not their story.

A recording whose last change is older than ``settings["retention_days"]`` of its workspace
(else the operator's ``RETENTION_DAYS``, 30 by default; 0 keeps media for ever) has its folder
deleted and becomes EXPIRED, with a ``media_expired`` event in the workspace's audit log. Its
row stays with the title, the metadata.json contents and the publications with their links, so
the chat's history and the published videos still make sense. Recordings a worker still owes
work are never touched. The chat is told what was freed.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jobs import files
from jobs.context import WorkerDeps
from leap.settings import Settings
from locales import gettext
from locales.format import size
from storage import repo
from storage.files import MediaStore
from storage.models import Recording, RecordingStatus, Workspace

log = logging.getLogger(__name__)

# Daily, at a quiet hour.
SCHEDULE_HOUR = 3
SCHEDULE_MINUTE = 30
_NAMES_SHOWN = 10

# Finished one way or another; anything else is still in a worker's hands.
EXPIRABLE = (
    RecordingStatus.DOWNLOADED,
    RecordingStatus.PROCESSED,
    RecordingStatus.AWAITING_REVIEW,
    RecordingStatus.READY,
    RecordingStatus.FAILED,
    RecordingStatus.SKIPPED,
)


@dataclass
class Freed:
    workspace_id: int
    days: float
    recordings: list[tuple[int, str]] = field(default_factory=list)
    bytes: int = 0


async def retention(ctx: dict[str, Any]) -> int:
    """arq cron: expire old media everywhere; returns the bytes freed."""
    deps: WorkerDeps = ctx["deps"]
    results = await expire_old_media(deps.sessions, deps.store, deps.settings, bot=deps.bot)
    return sum(r.bytes for r in results)


def retention_days(settings: Settings, workspace: Workspace) -> float:
    default = settings.retention_days
    value = (workspace.settings or {}).get("retention_days", default)
    try:
        return float(value)
    except (TypeError, ValueError):
        return float(default)


async def expire_old_media(
    sessions: async_sessionmaker[AsyncSession],
    store: MediaStore,
    settings: Settings,
    *,
    bot: Bot | None = None,
    days: float | None = None,
    workspace_id: int | None = None,
) -> list[Freed]:
    """Expire what is past retention (or past `days`, when an operator says so).

    Returns one entry per workspace where something was freed; tells each chat when `bot`
    is given.
    """
    async with sessions() as session:
        query = sa.select(Workspace).order_by(Workspace.id)
        if workspace_id is not None:
            query = query.where(Workspace.id == workspace_id)
        workspaces = list((await session.scalars(query)).all())
    results = []
    for workspace in workspaces:
        keep = days if days is not None else retention_days(settings, workspace)
        if keep <= 0:
            continue
        # `days` comes from an operator's command; the daily sweep follows the workspace's rule.
        by = "operator" if days is not None else "retention"
        freed = await _expire_workspace(sessions, store, workspace.id, keep, by)
        if not freed.recordings:
            continue
        results.append(freed)
        log.info(
            "retention: workspace %s, %d recordings expired, %d bytes freed",
            workspace.id,
            len(freed.recordings),
            freed.bytes,
        )
        if bot is not None:
            await _tell(bot, settings, workspace, freed)
    return results


async def _expire_workspace(
    sessions: async_sessionmaker[AsyncSession],
    store: MediaStore,
    workspace_id: int,
    days: float,
    by: str,
) -> Freed:
    freed = Freed(workspace_id, days)
    cutoff = datetime.now(UTC) - timedelta(days=days)
    for recording_id in await expirable(sessions, workspace_id, cutoff):
        expired = await expire_recording(
            sessions, store, workspace_id, recording_id, cutoff, days=days, by=by
        )
        if expired is None:
            continue
        name, count = expired
        freed.recordings.append((recording_id, name))
        freed.bytes += count
    return freed


async def expirable(
    sessions: async_sessionmaker[AsyncSession], workspace_id: int, cutoff: datetime
) -> list[int]:
    """Ids of the workspace's finished recordings nobody has changed since `cutoff`."""
    async with sessions() as session:
        rows = await session.scalars(
            sa.select(Recording.id)
            .where(
                Recording.workspace_id == workspace_id,
                Recording.status.in_(EXPIRABLE),
                Recording.updated_at < cutoff,
            )
            .order_by(Recording.id)
        )
        return list(rows.all())


async def expire_recording(
    sessions: async_sessionmaker[AsyncSession],
    store: MediaStore,
    workspace_id: int,
    recording_id: int,
    cutoff: datetime,
    *,
    days: float,
    by: str,
) -> tuple[str, int] | None:
    """Expire one recording found by `expirable`: (its name, bytes freed), or None if it moved.

    Between the look and this change a person may have published or retried it, so the row is
    changed only while it is still finished and untouched since `cutoff`, and the folder is
    deleted only when that change took.
    """
    folder = store.recording_dir(workspace_id, recording_id, create=False)
    metadata = _metadata(folder / files.METADATA)
    async with sessions() as session:
        recording = await repo.get_recording(session, workspace_id, recording_id)
        if recording is None:
            return None
        media = {**recording.media, "expired_at": datetime.now(UTC).isoformat()}
        if metadata:
            media["metadata"] = metadata
        # The row changes first: a media-less recording marked done would be worse than an
        # expired one whose folder a second sweep removes.
        moved = await session.execute(
            sa.update(Recording)
            .where(
                Recording.workspace_id == workspace_id,
                Recording.id == recording_id,
                Recording.status.in_(EXPIRABLE),
                Recording.updated_at < cutoff,
            )
            .values(status=RecordingStatus.EXPIRED, stage=None, media=media)
            # The database decides the condition; the row loaded above is not updated.
            .execution_options(synchronize_session=False)
        )
        if moved.rowcount != 1:
            await session.rollback()
            log.info("retention: recording %s changed meanwhile; kept", recording_id)
            return None
        name = recording.source_name or f"#{recording.id}"
        await session.commit()
    count = await asyncio.to_thread(store.delete_recording, workspace_id, recording_id)
    async with sessions() as session:
        recording = await repo.get_recording(session, workspace_id, recording_id)
        if recording is not None:
            recording.media = {**recording.media, "expired_bytes": count}
        # Nobody in the chat pressed anything: the log says who did, so "who deleted it" has
        # an answer.
        await repo.audit(
            session,
            workspace_id,
            None,
            "media_expired",
            f"recording:{recording_id}",
            name=name[:200],
            days=days,
            bytes=count,
            by=by,
        )
        await session.commit()
    return name, count


def _metadata(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


async def _tell(bot: Bot, settings: Settings, workspace: Workspace, freed: Freed) -> None:
    lang = repo.chat_language(workspace, settings.default_language)
    lines = [
        gettext(
            lang,
            "retention.freed",
            days=f"{freed.days:g}",
            count=len(freed.recordings),
            size=size(lang, freed.bytes),
        )
    ]
    for _, name in freed.recordings[:_NAMES_SHOWN]:
        lines.append(gettext(lang, "retention.item", name=html.escape(name[:100])))
    rest = len(freed.recordings) - _NAMES_SHOWN
    if rest > 0:
        lines.append(gettext(lang, "retention.more", count=rest))
    try:
        await bot.send_message(workspace.chat_id, "\n".join(lines))
    except TelegramAPIError as exc:
        log.warning("retention notice not posted in workspace %s: %s", workspace.id, exc)
