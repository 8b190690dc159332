"""The workspace's recordings as a CSV file: what the CSV button under /recordings sends.

One row per recording of this workspace only, newest first: title, date (UTC), duration,
status and the links where it was published. The file is UTF-8 with a byte-order mark, so
Excel reads Cyrillic titles right; Russian readers get semicolons between the fields (what a
Russian Excel expects when it opens a .csv), others commas. A cell that a spreadsheet would
take for a formula (=, +, -, @ first) is prefixed with an apostrophe: a title someone typed
never runs in anyone's spreadsheet.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from jobs import cards, control
from locales import Translator
from locales.format import duration
from storage import quotas
from storage.models import Publication, PublicationStatus, Recording

BOM = "\ufeff"
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA) else value


def _status(_: Translator, recording: Recording) -> str:
    key = (
        "recs.status_cancelled"
        if recording.failure_code == control.CANCELLED
        else f"recs.status_{recording.status.value}"
    )
    # The list's mark ("✅ Published") is for the chat; a spreadsheet gets the words.
    return _(key).split(" ", 1)[-1]


def _utc(moment: datetime) -> datetime:
    # SQLite gives back the stored UTC time without its zone.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _length(recording: Recording) -> str:
    trim = recording.media.get("trim") or {}
    seconds = trim.get("duration") or quotas.recording_seconds(recording.media, recording.options)
    return duration(float(seconds)) if seconds else ""


async def _rows(
    session: AsyncSession, workspace_id: int
) -> tuple[Sequence[Recording], dict[int, list[str]]]:
    recordings = await session.scalars(
        sa.select(Recording)
        .where(Recording.workspace_id == workspace_id)
        .order_by(Recording.id.desc())
    )
    published = await session.scalars(
        sa.select(Publication)
        .where(
            Publication.workspace_id == workspace_id,
            Publication.status == PublicationStatus.DONE,
            Publication.url.is_not(None),
        )
        .order_by(Publication.id)
    )
    links: dict[int, list[str]] = {}
    for publication in published:
        links.setdefault(publication.recording_id, []).append(str(publication.url))
    return recordings.all(), links


async def recordings_csv(
    session: AsyncSession, workspace_id: int, _: Translator
) -> tuple[bytes, int]:
    """The file's bytes and how many recordings it lists."""
    recordings, links = await _rows(session, workspace_id)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";" if _.lang == "ru" else ",", lineterminator="\r\n")
    writer.writerow(
        [_("csv.title"), _("csv.date"), _("csv.duration"), _("csv.status"), _("csv.links")]
    )
    for recording in recordings:
        writer.writerow(
            [
                _cell(cards.display_name(recording)),
                _utc(recording.created_at).strftime("%Y-%m-%d %H:%M"),
                _length(recording),
                _status(_, recording),
                " ".join(links.get(recording.id, [])),
            ]
        )
    return (BOM + out.getvalue()).encode("utf-8"), len(recordings)
