"""Share pages: one signed, revocable link per recording, turned on and off from its card.

- The link is ``PUBLIC_BASE_URL/share/<token>``. The token names the workspace, the recording
  and the recording's share id (random, kept in ``Recording.options["share"]``), with an HMAC
  over the three under the keys of SECRET_KEY: the first key signs, every listed key verifies,
  as download links do (integrations.export), but over a message of its own kind, so neither
  kind of token passes for the other.
- `resolve` is the web server's one door: a token opens a recording only when its signature is
  genuine, the recording exists in the workspace the token names, and the share id is the
  recording's current one. Anything else is the same "not found", whatever failed.
- Revoking removes the share id: every link made before stops opening at once, and the next
  "Share page" makes a new id, so a revoked link never opens again.
- A discarded recording opens no more (its files are gone soon after).
- Without a public address or a secret to sign with there is no link to give: `share_url`
  says None and the card's button says why.
- `page_content` gathers what the page shows from the recording's own files and rows only:
  its title, chapters, summary, transcript and subtitles, and the YouTube video it was
  published as, if any (the page embeds that; otherwise it plays the file itself).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from integrations import export
from jobs import files
from jobs.cards.review_text import fetch_metadata, metadata_chapters, recording_title
from leap.settings import Settings
from pipeline.timecodes import Chapter
from pipeline.topics import Topics
from pipeline.transcript import Transcript
from storage import repo
from storage.files import MediaStore
from storage.models import PublicationStatus, Recording, RecordingStatus

_SHARE_ID = re.compile(r"^[0-9a-f]{16}$")
_YOUTUBE_ID = re.compile(r"^[A-Za-z0-9_-]{6,20}$")

# The files the page serves under its own token path, by the name in the address.
SERVED = {"video": files.VIDEO, "subtitles.vtt": files.VTT, "subtitles.srt": files.SRT}


def _keys(settings: Settings) -> export.LinkKeys | None:
    secret = settings.secret_key.get_secret_value() if settings.secret_key else ""
    return export.link_key(secret) if secret else None


def _mac(key: bytes, body: str) -> str:
    digest = hmac.new(key, f"share:{body}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign(keys: export.LinkKeys, workspace_id: int, recording_id: int, share_id: str) -> str:
    body = f"{workspace_id}.{recording_id}.{share_id}"
    return f"{body}.{_mac(keys.signing, body)}"


def verify(keys: export.LinkKeys, token: str) -> tuple[int, int, str] | None:
    """(workspace_id, recording_id, share_id) of a genuinely signed token; None otherwise.

    Whether the share id is still the recording's is `resolve`'s to check.
    """
    parts = token.split(".")
    # ASCII digits only: int() reads other scripts' digits too, and one genuine signature
    # would then stand behind many spellings of the same link.
    if len(parts) != 4 or not all(p.isascii() and p.isdigit() for p in parts[:2]):
        return None
    if not _SHARE_ID.match(parts[2]):
        return None
    body = ".".join(parts[:3])
    mac = parts[3].encode()
    # Every key is tried, so the time taken does not tell which one matched.
    matches = [hmac.compare_digest(mac, _mac(k, body).encode()) for k in keys.keys]
    if not any(matches):
        return None
    return int(parts[0]), int(parts[1]), parts[2]


def share_id(recording: Recording) -> str | None:
    """The recording's current share id; None while its share page is off."""
    found = (recording.options or {}).get("share")
    return found if isinstance(found, str) and _SHARE_ID.match(found) else None


def can_share(settings: Settings) -> bool:
    return bool(settings.public_base_url) and _keys(settings) is not None


def share_url(settings: Settings, recording: Recording) -> str | None:
    """The live link to the recording's share page; None while it is off or cannot be made."""
    keys = _keys(settings)
    current = share_id(recording)
    if not settings.public_base_url or keys is None or current is None:
        return None
    token = sign(keys, recording.workspace_id, recording.id, current)
    return f"{settings.public_base_url.rstrip('/')}/share/{token}"


async def turn_on(
    session: AsyncSession, settings: Settings, recording: Recording, user_id: int | None
) -> str | None:
    """The share page's link, made (and audited) the first time; None when no link can be
    made here (no public address or secret). The caller commits."""
    if not can_share(settings):
        return None
    if share_id(recording) is None:
        recording.options = {**(recording.options or {}), "share": secrets.token_hex(8)}
        await repo.audit(
            session, recording.workspace_id, user_id, "share_created", f"recording:{recording.id}"
        )
    return share_url(settings, recording)


async def revoke(session: AsyncSession, recording: Recording, user_id: int | None) -> bool:
    """Turn the share page off; False when it was off already. The caller commits."""
    if share_id(recording) is None:
        return False
    recording.options = {k: v for k, v in (recording.options or {}).items() if k != "share"}
    await repo.audit(
        session, recording.workspace_id, user_id, "share_revoked", f"recording:{recording.id}"
    )
    return True


async def resolve(session: AsyncSession, settings: Settings, token: str) -> Recording | None:
    """The one recording a token opens, or None (bad signature, gone, revoked, replaced)."""
    keys = _keys(settings)
    if keys is None or len(token) > 200:
        return None
    found = verify(keys, token)
    if found is None:
        return None
    workspace_id, recording_id, claimed = found
    recording = await repo.get_recording(session, workspace_id, recording_id)
    # A discarded lecture is shared no more, whatever links went out.
    if recording is None or recording.status is RecordingStatus.SKIPPED:
        return None
    current = share_id(recording)
    if current is None or not hmac.compare_digest(current, claimed):
        return None
    return recording


@dataclass(frozen=True)
class Line:
    start: float
    text: str


@dataclass(frozen=True)
class PageContent:
    """What a share page shows, read from the recording's files and publications."""

    title: str
    language: str
    summary: str
    chapters: list[Chapter] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    video: bool = False
    subtitles: bool = False
    youtube_id: str | None = None


async def page_content(
    session: AsyncSession, store: MediaStore, recording: Recording
) -> PageContent:
    metadata = await fetch_metadata(store, recording)
    ws, rec = recording.workspace_id, recording.id
    summary = str((recording.media.get("summary") or {}).get("text") or "").strip()
    if not summary:
        # Recordings from before summaries were kept with the recording have it in topics.json.
        summary = await asyncio.to_thread(_read_summary, await store.fetch(ws, rec, files.TOPICS))
    transcript = await store.fetch(ws, rec, files.TRANSCRIPT)
    lines = await asyncio.to_thread(_read_lines, transcript)
    # The video itself is not brought from a bucket here: only when a browser asks for it.
    video = store.recording_dir(ws, rec, create=False) / files.VIDEO
    vtt = await store.fetch(ws, rec, files.VTT)
    youtube = None
    for row in await repo.publications(session, ws, rec):
        if row.platform == "youtube" and row.status is PublicationStatus.DONE:
            if row.remote_id and _YOUTUBE_ID.match(row.remote_id):
                youtube = row.remote_id
    return PageContent(
        title=recording_title(recording, metadata),
        language=recording.language,
        summary=summary,
        chapters=metadata_chapters(metadata),
        lines=lines,
        video=video.is_file() or store.remote,
        subtitles=vtt.is_file(),
        youtube_id=youtube,
    )


def _read_summary(path: Path) -> str:
    try:
        return Topics.load_json(path).summary.strip()
    except (OSError, ValueError):
        return ""


def _read_lines(path: Path) -> list[Line]:
    try:
        transcript = Transcript.load_json(path)
    except (OSError, ValueError):
        return []
    return [Line(s.start, s.text) for s in transcript.segments if s.text]


async def served_file(store: MediaStore, recording: Recording, name: str) -> Path | None:
    """The local path of one file the page serves by `name` (see SERVED); None if absent."""
    stored = SERVED.get(name)
    if stored is None:
        return None
    path = await store.fetch(recording.workspace_id, recording.id, stored)
    return path if path.is_file() else None
