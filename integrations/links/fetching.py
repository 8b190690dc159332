"""Downloading the video behind a link, with progress, a size limit and a cancel.

Rules it keeps:

- `download` checks the address and the limits again, on fresh information, before any
  media is requested, and writes `folder/source.*` only. A page that has become a playlist
  since it was looked at gives its `item`-th video (the first when none is named).
- Progress is one percentage over all the parts (video and sound), reported when it changes
  and never 100 before the file is written.
- A source that did not tell its size is stopped as soon as it passes `max_size`
  (`link_too_large`); a cancel is honoured at the next progress report (`Cancelled`). Either
  way the partial files are removed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from yt_dlp.utils import DownloadCancelled, YoutubeDLError

from integrations.links.info import video_of
from integrations.links.model import LinkError, LinkLimits, Video, too_large
from integrations.links.network import Budget, GuardedYoutubeDL
from integrations.links.ytdlp import check_address, check_playable, classify, extract, ytdl_params
from integrations.url_guard import AddressGuard

ProgressCallback = Callable[[int], None]
"""Called from yt-dlp's thread with the percentage of the whole download."""


def download(
    url: str,
    folder: Path,
    guard: AddressGuard,
    limits: LinkLimits,
    *,
    item: int | None = None,
    on_progress: ProgressCallback | None = None,
    cancelled: threading.Event | None = None,
    proxy: str | None = None,
) -> tuple[Path, Video]:
    """Download the video at `url` (or the `item`-th video of its page) as `folder/source.*`.

    The limits are checked again on fresh information before any media is requested, and
    while downloading for sources that did not tell the size in advance.
    """
    check_address(url, guard)
    progress = _Progress(limits, on_progress, cancelled)
    params = {
        **ytdl_params(proxy),
        "noplaylist": item is None,
        "outtmpl": {"default": "source.%(ext)s"},
        "paths": {"home": str(folder), "temp": str(folder)},
        "progress_hooks": [progress.hook],
    }
    # A page that has become a playlist since it was looked at gives its first video only.
    params["playlist_items"] = str(item or 1)
    folder.mkdir(parents=True, exist_ok=True)
    budget = Budget()
    with GuardedYoutubeDL(params, guard, budget) as ydl:
        info = extract(ydl, url, guard)
        if info.get("_type") == "playlist":
            entries = [e for e in info.get("entries") or [] if e]
            if not entries:
                raise LinkError("link_not_found")
            info = entries[0]
        check_playable(info, guard)
        video = video_of(ydl, info, url, limits)
        progress.parts = max(len(info.get("requested_formats") or ()), 1)
        # From here on the media streams to disk, bounded by the size limit; pages and
        # manifests read whole stay bounded by the budget.
        budget.media = True
        try:
            done = ydl.process_ie_result(info, download=True)
        except _TooLarge as exc:
            _forget_parts(folder)
            raise too_large(exc.size, limits) from exc
        except YoutubeDLError as exc:
            if cancelled is not None and cancelled.is_set():
                # Whatever the cancel broke on the way (a closed connection, the hook), the
                # download was cancelled, and what it wrote so far is of no use.
                _forget_parts(folder)
                raise _Cancelled() from exc
            raise classify(exc, guard, budget) from exc
        if budget.exceeded:
            raise budget.refusal()
    path = _written(done, folder)
    if path is None:
        raise LinkError("link_failed")
    return path, video


def _forget_parts(folder: Path) -> None:
    for part in folder.glob("source*.part"):
        part.unlink(missing_ok=True)


class _Cancelled(DownloadCancelled):
    msg = "cancelled"


class _TooLarge(DownloadCancelled):
    msg = "too large"

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size


Cancelled = _Cancelled
"""Raised by `download` once `cancelled` is set."""


def _written(info: dict[str, Any] | None, folder: Path) -> Path | None:
    for entry in (info or {}).get("requested_downloads") or []:
        path = entry.get("filepath")
        if path and Path(path).is_file():
            return Path(path)
    leftovers = (".part", ".ytdl", ".temp")
    found = [p for p in folder.glob("source.*") if p.suffix not in leftovers and p.is_file()]
    return max(found, key=lambda p: p.stat().st_size) if found else None


class _Progress:
    """Turns yt-dlp's per-file progress into one percentage, and enforces size and cancel."""

    def __init__(
        self,
        limits: LinkLimits,
        on_progress: ProgressCallback | None,
        cancelled: threading.Event | None,
    ) -> None:
        self.limits = limits
        self.on_progress = on_progress
        self.cancelled = cancelled
        self.parts = 1
        self.finished = 0
        self.finished_bytes = 0
        self.last = -1

    def hook(self, status: dict[str, Any]) -> None:
        if self.cancelled is not None and self.cancelled.is_set():
            raise _Cancelled()
        state = status.get("status")
        done = int(status.get("downloaded_bytes") or 0)
        total = status.get("total_bytes")
        if state == "finished":
            self.finished += 1
            self.finished_bytes += int(status.get("total_bytes") or done)
            return
        if state != "downloading":
            return
        # Sources that hide the size are stopped as soon as they pass the limit.
        if total and self.finished_bytes + int(total) > self.limits.max_size:
            raise _TooLarge(self.finished_bytes + int(total))
        if self.finished_bytes + done > self.limits.max_size:
            raise _TooLarge(self.finished_bytes + done)
        expected = total or status.get("total_bytes_estimate")
        if self.on_progress is None or not expected:
            return
        fraction = (self.finished + min(done / float(expected), 1.0)) / max(self.parts, 1)
        percent = min(int(fraction * 100), 99)
        if percent != self.last:
            self.last = percent
            self.on_progress(percent)
