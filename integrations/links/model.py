"""What a link holds and how it can fail: the limits, the video or playlist found, LinkError.

Rules it keeps:

- A `LinkError`'s `code` names an `error.*` message people see and `params` fill it; only
  `link_unreachable` is transient (the site may answer later).
- `check_limits` refuses a video longer than `max_duration` (`too_long`) or larger than
  `max_size` (`link_too_large`) from what the source declares; what it does not declare is
  checked again while downloading.
- PAGE_MAX_BYTES bounds every body read whole (see `integrations.links.network`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TRANSIENT_CODES = frozenset({"link_unreachable"})

PAGE_MAX_BYTES = 10_000_000
"""The most one page, manifest or API answer may hold, decoded. Real video pages and the
scripts yt-dlp reads from them stay within a few MB; yt-dlp holds several copies of a page
while it parses it, so this also bounds what looking at a link costs in memory."""


@dataclass(frozen=True)
class LinkLimits:
    max_duration: float
    """Seconds."""
    max_size: int
    """Bytes."""
    max_items: int
    """Videos taken from one playlist."""


@dataclass(frozen=True)
class Video:
    url: str
    title: str
    duration: float | None = None
    size: int | None = None
    item: int | None = None
    """The video's place in the page's playlist, when the video has no address of its own."""
    drive_id: str | None = None
    """A Google Drive file fetched through the workspace's Google connection."""
    disk_path: str | None = None
    """A file on the workspace's connected Yandex Disk (``disk:/...``), fetched through its API."""


@dataclass(frozen=True)
class Playlist:
    url: str
    title: str
    videos: tuple[Video, ...]
    total: int | None
    """How many videos the source lists (more than `videos` when it has more than we take);
    None when it has more and does not say how many."""

    @property
    def duration(self) -> float | None:
        """The videos' total length, when every one of them says how long it is."""
        durations = [v.duration for v in self.videos]
        if not durations or any(d is None for d in durations):
            return None
        return float(sum(d for d in durations if d is not None))


class LinkError(Exception):
    """What went wrong with a link; `code` names an `error.*` message, `params` fill it."""

    def __init__(self, code: str, params: dict[str, Any] | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.params = params or {}

    @property
    def transient(self) -> bool:
        return self.code in TRANSIENT_CODES


def check_limits(video: Video, limits: LinkLimits) -> None:
    if video.duration is not None and video.duration > limits.max_duration:
        raise LinkError("too_long", {"duration": video.duration, "limit": limits.max_duration})
    if video.size is not None and video.size > limits.max_size:
        raise too_large(video.size, limits)


def too_large(size: int, limits: LinkLimits) -> LinkError:
    return LinkError("link_too_large", {"size": size, "limit": limits.max_size})
