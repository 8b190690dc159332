"""Old media makes room: recordings past retention lose their files, not their story.

A recording whose last change is older than ``settings["retention_days"]`` of its workspace
(else the operator's ``retention_days``, else 30; 0 keeps media for ever) has its folder
deleted and becomes EXPIRED. Its row stays with the title, the metadata.json contents and the
publications with their links, so the chat's history and the published videos still make
sense. Recordings a worker still owes work are never touched. The chat is told what was freed.
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
from storage.files import MediaStore
from storage.models import Recording, RecordingStatus, Workspace

log = logging.getLogger(__name__)

DEFAULT_RETENTION_DAYS = 30.0
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
    default = getattr(settings, "retention_days", DEFAULT_RETENTION_DAYS)
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
        freed = await _expire_workspace(sessions, store, workspace.id, keep)
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
    sessions: async_sessionmaker[AsyncSession], store: MediaStore, workspace_id: int, days: float
) -> Freed:
    freed = Freed(workspace_id, days)
    cutoff = datetime.now(UTC) - timedelta(days=days)
    async with sessions() as session:
        rows = await session.scalars(
            sa.select(Recording)
            .where(
                Recording.workspace_id == workspace_id,
                Recording.status.in_(EXPIRABLE),
                Recording.updated_at < cutoff,
            )
            .order_by(Recording.id)
        )
        for recording in rows.all():
            folder = store.recording_dir(workspace_id, recording.id, create=False)
            metadata = _metadata(folder / files.METADATA)
            # The row changes first: a media-less recording marked done would be worse than
            # an expired one whose folder a second sweep removes.
            recording.status = RecordingStatus.EXPIRED
            recording.stage = None
            media = {**recording.media, "expired_at": datetime.now(UTC).isoformat()}
            if metadata:
                media["metadata"] = metadata
            recording.media = media
            await session.commit()
            count = await asyncio.to_thread(store.delete_recording, workspace_id, recording.id)
            freed.bytes += count
            freed.recordings.append((recording.id, recording.source_name or f"#{recording.id}"))
            recording.media = {**recording.media, "expired_bytes": count}
            await session.commit()
    return freed


def _metadata(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


async def _tell(bot: Bot, settings: Settings, workspace: Workspace, freed: Freed) -> None:
    lang = workspace.language or settings.default_language
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
