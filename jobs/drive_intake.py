"""A Google Drive link at intake: yt-dlp for a public file, the Google connection for a private one.

Rules it keeps:

- Only Drive file links (`integrations.google_drive.file_id`) are treated here; every other
  link goes to the inspector unchanged.
- When the workspace's Google connection may read Drive (``drive.readonly``), the file is
  looked at through the Drive API (name, size, that it is video or sound), public or
  private alike, and the video it becomes carries its file id (`Video.drive_id`) so the
  fetch stage downloads it with the connection.
- Otherwise yt-dlp tries it as a public file. When yt-dlp cannot fetch it (anything but a
  length or size refusal), the answer is LinkError ``drive_connect``: the chat offers a
  button that asks Google for Drive access on top of the YouTube access already granted.
- The database is read (and a renewed token written) before Drive is asked, and the
  transaction is closed before any network wait.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from integrations import google_drive
from integrations.google_drive import DriveError
from integrations.links import LinkError, Playlist, Video, check_limits
from jobs.fetch_drive import PROVIDER, drive_client, has_drive, read_payload, stale
from jobs.fetch_link import link_limits
from jobs.link_intake import LinkInspector
from leap.settings import Settings
from storage import repo
from storage.crypto import SecretBox

# What yt-dlp may refuse a public Drive file for that a connection would not change.
_FINAL = frozenset({"too_long", "link_too_large", "link_private_address", "link_scheme"})


async def inspect(
    inspector: LinkInspector,
    url: str,
    settings: Settings,
    session: AsyncSession,
    workspace_id: int,
    box: SecretBox | None,
) -> Video | Playlist:
    """What the link holds, through Drive's API when it is a Drive file the connection may read."""
    fid = google_drive.file_id(url)
    if fid is None:
        return await inspector.inspect(url, settings)
    found = read_payload(box, await repo.credentials(session, workspace_id, PROVIDER))
    await session.commit()
    if found is not None and has_drive(found[1]):
        row_id, payload = found[0].id, found[1]
        return await _drive_video(url, fid, settings, session, workspace_id, box, row_id, payload)
    try:
        return await inspector.inspect(url, settings)
    except LinkError as exc:
        # Without a Google app nobody can connect: yt-dlp's own reason is the whole answer.
        if exc.code in _FINAL or not (
            settings.youtube_client_id and settings.youtube_client_secret
        ):
            raise
        raise LinkError("drive_connect") from exc


async def _drive_video(
    url: str,
    fid: str,
    settings: Settings,
    session: AsyncSession,
    workspace_id: int,
    box: SecretBox | None,
    row_id: int,
    payload: dict[str, Any],
) -> Video:
    async def save(changed: dict[str, Any]) -> None:
        assert box is not None  # the payload was decrypted with it
        for row in await repo.credentials(session, workspace_id, PROVIDER):
            if row.id == row_id:
                row.payload = box.encrypt(changed)
        await session.commit()

    async with drive_client(settings, payload, save) as drive:
        try:
            if stale(payload):
                await drive.renew()
            meta = await drive.metadata(fid)
        except DriveError as exc:
            if exc.transient:
                raise LinkError("link_unreachable") from exc
            raise LinkError(exc.code) from exc
    if not meta.is_media:
        raise LinkError("drive_not_media")
    video = Video(
        url=url, title=(Path(meta.name).stem or meta.name)[:512], size=meta.size, drive_id=fid
    )
    check_limits(video, link_limits(settings))
    return video
