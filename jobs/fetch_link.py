"""Fetching a link: yt-dlp behind the address guard, in a thread, reporting its progress.

What the thread may read is bounded by `links.download`: pages, manifests and API answers
within the page budget (a page that has grown huge since it was looked at fails with
`link_page_too_large`), the media within the size limit, streamed to disk. When the stage is
cancelled (by a person, its timeout or shutdown) the guard closes the download's
connections, so the thread ends at once instead of waiting on a slow site, and nothing of
the download goes on after the stage.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from typing import Any

from integrations import links
from integrations.links import LinkError, LinkLimits
from integrations.url_guard import AddressGuard
from jobs.fetch_drive import fetch_drive
from jobs.fetch_yandex import fetch_yandex
from jobs.runner import StageFailure, StageJob, TransientFailure
from leap.settings import Settings
from locales.format import duration, size
from storage.files import safe_ext

log = logging.getLogger(__name__)

# A site that does not answer often does a few minutes later; later tries wait longer.
RETRY_AFTER = (20.0, 60.0, 180.0, 600.0)


def link_limits(settings: Settings) -> LinkLimits:
    return LinkLimits(
        max_duration=settings.max_duration_hours * 3600,
        max_size=int(settings.link_max_size_gb * 1_000_000_000),
        max_items=settings.playlist_max_items,
    )


async def fetch_link(job: StageJob, dest: Path) -> Path:
    """Download the recording's source into `dest` (or a sibling with the right extension).

    Returns the path written; the recording's `source_ext` is updated through `job.save`.
    """
    recording = job.recording
    if recording.options.get("drive_file"):
        return await fetch_drive(job, dest)
    if recording.options.get("yandex_path"):
        return await fetch_yandex(job, dest)
    settings = job.deps.settings
    loop = asyncio.get_running_loop()
    cancelled = threading.Event()

    def on_progress(percent: int) -> None:
        # Called in yt-dlp's thread: the progress message belongs to the event loop.
        if cancelled.is_set():
            return  # the stage has ended; its message may already say why
        try:
            loop.call_soon_threadsafe(job.report, job._("progress.downloading", percent=percent))
        except RuntimeError:
            cancelled.set()  # the loop is gone; nobody waits for these bytes any more

    job.report(job._("links.looking"))
    item = recording.options.get("link_item")
    guard = AddressGuard(allow_private=settings.allow_private_urls)
    try:
        path, _video = await asyncio.to_thread(
            links.download,
            recording.source_ref,
            dest.parent,
            guard,
            link_limits(settings),
            item=int(item) if item else None,
            on_progress=on_progress,
            cancelled=cancelled,
            proxy=settings.link_proxy,
        )
    except asyncio.CancelledError:
        # The thread cannot be interrupted, but its connections can: shut, they end the read
        # it waits in, and it stops at yt-dlp's next progress report or request.
        cancelled.set()
        guard.close()
        raise
    except links.Cancelled as exc:
        raise StageFailure("link_failed") from exc
    except LinkError as exc:
        if exc.transient:
            delay = RETRY_AFTER[min(job.attempt, len(RETRY_AFTER)) - 1]
            raise TransientFailure(exc.code, defer=delay) from exc
        raise StageFailure(exc.code, **failure_params(exc, job.lang)) from exc
    job.save(source_ext=safe_ext(path.suffix or "mp4"))
    log.info("recording %s: link downloaded as %s", recording.id, path.name)
    return path


def failure_params(exc: LinkError, lang: str) -> dict[str, Any]:
    """The numbers of a refusal, written for people."""
    params = dict(exc.params)
    if exc.code == "too_long":
        return {"duration": duration(params["duration"]), "limit": duration(params["limit"])}
    if exc.code == "link_too_large":
        return {"size": size(lang, params["size"]), "limit": size(lang, params["limit"])}
    return params
