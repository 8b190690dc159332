"""Where each platform stands, in words: the progress lines and the outcome lines.

- Progress: one line per platform under the recording's progress message (and on its review
  card). The lines live in Redis, so jobs in different processes draw the same picture; they
  are listed in the order of the registry, and a line that cannot be shared never fails a
  publication.
- Outcome: once a platform is done or failed, its line is its link (the file in the chat for an
  export sent as a file, the link's expiry for an export too big to send), or its reason, plus
  any note the publisher left (a thumbnail YouTube refused, say). The links message lists the
  published platforms first and the failed ones after, and its heading says when every one
  failed. A line is in the recording's language unless the caller asks for another. A video
  YouTube holds until a scheduled time says "scheduled for <time>" under its link.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from arq.connections import ArqRedis

from jobs import keys
from jobs.presets_text import scheduled_note
from jobs.publish.metadata import esc
from jobs.publish.registry import PLATFORMS
from locales import gettext
from storage.models import Publication, PublicationStatus, Recording

log = logging.getLogger(__name__)

LINES_TTL = 7 * 24 * 3600


class Lines:
    """The per-platform lines of one recording's progress message, shared through Redis."""

    def __init__(self, redis: ArqRedis, recording_id: int) -> None:
        self.redis = redis
        self.key = keys.publish_lines(recording_id)

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


def line(lang: str, state: str, platform: str, **params: Any) -> str:
    """A platform's progress line: ``publish.line.<state>`` with the platform's name."""
    name = gettext(lang, f"publish.platform.{platform}")
    return gettext(lang, f"publish.line.{state}", platform=name, **params)


def links_message(recording: Recording, rows: Sequence[Publication], title: str) -> str:
    lang = recording.language
    lines = [gettext(lang, "publish.links_title", title=esc(title))]
    failed = []
    for row in _in_order(rows):
        if row.status != PublicationStatus.DONE:
            failed.append(outcome_line(recording, row))
            continue
        lines.append(outcome_line(recording, row))
    if failed and len(failed) == len(rows):
        lines[0] = gettext(lang, "publish.all_failed", title=esc(title))
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
        return line(lang, "queued", row.platform)
    if row.status == PublicationStatus.UPLOADING:
        return line(lang, "starting", row.platform)
    if row.status != PublicationStatus.DONE:
        return gettext(lang, "publish.link_failed", platform=name, reason=esc(row.error or ""))
    if row.platform == "export" and not row.url:
        text = gettext(lang, "publish.link_file", platform=name)
    elif row.platform == "export":
        until = _export_until(recording)
        text = gettext(lang, "publish.link_export", platform=name, url=esc(row.url), until=until)
    else:
        text = gettext(lang, "publish.link", platform=name, url=esc(row.url or ""))
        text += scheduled_note(recording.media, row.platform, lang)
    if row.error:
        text += "\n" + gettext(lang, "publish.link_note", note=esc(row.error))
    return text


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
