"""Fetching a private Google Drive file with the workspace's Google (YouTube) connection.

Rules it keeps:

- The connection is the workspace's one ``youtube`` credential; Drive needs its grant to
  carry ``drive.readonly`` (asked for only when someone first sends a private Drive link,
  see `jobs.drive_intake`). Without it the stage fails with a message saying how to add it.
- An access token that has run out is renewed before the first request, and again when
  Drive answers 401; each renewal is stored at once, encrypted, so the next job starts with
  it. A renewal Google refuses (the access was withdrawn) fails the stage with
  `drive_revoked`, which tells the person to connect again.
- The bytes go to ``source.<ext>.part`` and the file is renamed only when whole; a try that
  fails in the middle keeps the bytes that arrived, and the next try (arq retries transient
  failures with growing delays) asks Drive for the rest only.
- Progress is the same percent line as every other download (`jobs.downloads`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from integrations import google_oauth
from integrations.google_drive import DriveClient, DriveError
from jobs.downloads import progress_reporter
from jobs.runner import StageFailure, StageJob, TransientFailure
from leap.settings import Settings
from storage import repo
from storage.crypto import SecretBox, SecretBoxError
from storage.files import safe_ext
from storage.models import Credential

log = logging.getLogger(__name__)

PROVIDER = "youtube"
# Google's storage answers again within minutes; later tries wait longer.
RETRY_AFTER = (5.0, 30.0, 120.0, 600.0)

Save = Callable[[dict[str, Any]], Awaitable[None]]


def has_drive(payload: dict[str, Any]) -> bool:
    scopes = set(str(payload.get("scope") or "").split())
    return bool(scopes & {google_oauth.DRIVE_READONLY, "https://www.googleapis.com/auth/drive"})


def read_payload(box: SecretBox | None, rows: Any) -> tuple[Credential, dict[str, Any]] | None:
    """The workspace's Google connection and its decrypted payload, when there is one."""
    if box is None:
        return None
    for row in rows:
        try:
            return row, box.decrypt(row.payload)
        except SecretBoxError:
            continue
    return None


def drive_client(settings: Settings, payload: dict[str, Any], save: Save) -> DriveClient:
    """A Drive client whose token renewals are kept in `payload` and stored through `save`."""

    async def renew() -> str:
        secret = settings.youtube_client_secret
        tokens = await google_oauth.refresh(
            str(payload.get("refresh_token") or ""),
            client_id=settings.youtube_client_id or "",
            client_secret=secret.get_secret_value() if secret else "",
            token_url=settings.google_token_url,
        )
        payload.update(
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token or payload.get("refresh_token"),
            expires_at=tokens.expires_at.isoformat(),
        )
        await save(payload)
        return tokens.access_token

    return DriveClient(
        str(payload.get("access_token") or ""), renew, api_url=settings.youtube_api_url
    )


def stale(payload: dict[str, Any]) -> bool:
    """Whether the stored access token has run out (or will within a minute)."""
    raw = payload.get("expires_at")
    try:
        expires = datetime.fromisoformat(str(raw)) if raw else None
    except ValueError:
        return True
    return expires is None or expires <= datetime.now(UTC) + timedelta(seconds=60)


async def fetch_drive(job: StageJob, dest: Path) -> Path:
    """Download the recording's Drive file next to `dest`; returns the path written."""
    recording = job.recording
    settings = job.deps.settings
    fid = str(recording.options.get("drive_file") or "")
    async with job.deps.sessions() as session:
        rows = await repo.credentials(session, recording.workspace_id, PROVIDER)
    found = read_payload(job.deps.secrets, rows)
    if found is None:
        raise StageFailure("drive_disconnected")
    row, payload = found
    if not has_drive(payload):
        raise StageFailure("drive_scope")

    async def save(changed: dict[str, Any]) -> None:
        box = job.deps.secrets
        assert box is not None  # read_payload found the connection with it
        async with job.deps.sessions() as session:
            current = await repo.credentials(session, recording.workspace_id, PROVIDER)
            for stored in current:
                if stored.id == row.id:
                    stored.payload = box.encrypt(changed)
            await session.commit()

    job.report(job._("progress.downloading", percent=0))
    on_progress = progress_reporter(job)
    max_size = int(settings.link_max_size_gb * 1_000_000_000)
    async with drive_client(settings, payload, save) as drive:
        try:
            if stale(payload):
                await drive.renew()
            meta = await drive.metadata(fid)
            if not meta.is_media:
                raise StageFailure("drive_not_media")
            ext = safe_ext(Path(meta.name).suffix or ".mp4")
            final = dest.with_name(f"{dest.stem}.{ext}")
            part = final.with_name(final.name + ".part")
            await drive.download(meta, part, on_progress=on_progress, max_size=max_size)
        except DriveError as exc:
            if exc.transient:
                log.info("recording %s: Drive download interrupted (%s)", recording.id, exc)
                delay = RETRY_AFTER[min(job.attempt, len(RETRY_AFTER)) - 1]
                raise TransientFailure(exc.code, defer=delay) from exc
            raise StageFailure(exc.code) from exc
    part.replace(final)
    job.save(source_ext=ext)
    log.info("recording %s: Drive file downloaded", recording.id)
    return final
