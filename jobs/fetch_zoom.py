"""Fetching a Zoom cloud recording file with the workspace's own Zoom app."""

from __future__ import annotations

import html
import logging
from pathlib import Path
from typing import Any

from integrations.zoom import Credentials, ZoomAuthError, ZoomClient, ZoomError, ZoomRecording
from jobs.downloads import progress_reporter
from jobs.runner import StageFailure, StageJob, TransientFailure
from storage import repo
from storage.crypto import SecretBoxError

log = logging.getLogger(__name__)

PROVIDER = "zoom"
# Zoom's storage comes back within minutes when it stumbles; later tries wait longer.
RETRY_AFTER = (30.0, 120.0, 300.0, 900.0)


async def fetch_zoom(job: StageJob, dest: Path) -> Path:
    """Download the recording's source into `dest`; returns the path written.

    The bytes land in a ".part" sibling first, so a retried stage continues that file with a
    Range request instead of starting over, and `dest` only ever holds a whole file.
    """
    recording = job.recording
    info: dict[str, Any] = dict(recording.options.get("zoom") or {})
    wanted = ZoomRecording.from_options(info).file
    if wanted is None or not wanted.download_url:
        raise StageFailure("zoom_failed", reason="no download address")
    credentials = await _credentials(job, int(info.get("credential_id") or 0))
    part = dest.with_name(dest.name + ".part")

    on_progress = progress_reporter(job)

    job.report(job._("progress.downloading", percent=0))
    settings = job.deps.settings
    try:
        async with ZoomClient(
            credentials, api_url=settings.zoom_api_url, oauth_url=settings.zoom_oauth_url
        ) as client:
            # A fresh token for every fetch: a queued job may start long after the listing.
            token = await client.token(renew=True)
            await client.download(wanted, part, token=token, on_progress=on_progress)
    except ZoomAuthError as exc:
        raise StageFailure("zoom_auth") from exc
    except ZoomError as exc:
        if exc.retryable:
            delay = RETRY_AFTER[min(job.attempt, len(RETRY_AFTER)) - 1]
            raise TransientFailure("zoom_unreachable", defer=delay) from exc
        if exc.status == 404:
            raise StageFailure("zoom_gone") from exc
        raise StageFailure("zoom_failed", reason=html.escape(str(exc))) from exc
    part.replace(dest)
    log.info("recording %s: zoom file %s downloaded", recording.id, wanted.id)
    return dest


async def _credentials(job: StageJob, credential_id: int) -> Credentials:
    box = job.deps.secrets
    if box is None:
        raise StageFailure("zoom_no_secret_key")
    async with job.deps.sessions() as session:
        rows = await repo.credentials(session, job.recording.workspace_id, PROVIDER)
    row = next((r for r in rows if r.id == credential_id), None)
    if row is None:
        raise StageFailure("zoom_disconnected")
    try:
        return Credentials.from_payload(box.decrypt(row.payload))
    except (SecretBoxError, ZoomAuthError) as exc:
        raise StageFailure("zoom_disconnected") from exc
