"""What a link holds, without downloading any media: `inspect`, and the video it describes.

Rules it keeps:

- A playlist is read flat and one entry past `max_items`, to know there are more without
  reading a whole channel; its videos are checked against the limits one by one when each
  is fetched. An entry without an address of its own is named by its place (`item`).
- A single video is checked against the limits: its length first (a video refused for it
  needs no further request), then its size, from what the source says or a HEAD request.
- Titles have their whitespace collapsed and keep 512 characters at most; addresses lose
  the data yt-dlp smuggles into them.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from yt_dlp import YoutubeDL
from yt_dlp.networking import HEADRequest
from yt_dlp.utils import YoutubeDLError, unsmuggle_url

from integrations.links.model import LinkError, LinkLimits, Playlist, Video, check_limits
from integrations.links.network import Budget, GuardedYoutubeDL
from integrations.links.ytdlp import check_address, check_playable, extract, protocol, ytdl_params
from integrations.url_guard import AddressGuard


def inspect(
    url: str, guard: AddressGuard, limits: LinkLimits, *, proxy: str | None = None
) -> Video | Playlist:
    """What the link holds, without downloading any media.

    A single video is checked against the limits here (LinkError when it breaks one); a
    playlist's videos are checked one by one when each is fetched.
    """
    check_address(url, guard)
    params = {
        **ytdl_params(proxy),
        "extract_flat": "in_playlist",
        # One more than we take tells us there are more without reading a whole channel.
        "playlistend": limits.max_items + 1,
    }
    with GuardedYoutubeDL(params, guard, Budget()) as ydl:
        info = extract(ydl, url, guard)
        if info.get("_type") == "playlist":
            return _playlist(info, url, limits)
        check_playable(info, guard)
        return video_of(ydl, info, url, limits)


def video_of(ydl: YoutubeDL, info: dict[str, Any], url: str, limits: LinkLimits) -> Video:
    """The video and what it will take, refused (LinkError) when that is over a limit."""
    video = Video(
        url=_clean_url(info.get("webpage_url") or url),
        title=_title(info),
        duration=_seconds(info.get("duration")),
    )
    # The length first: a video refused for it needs no further request.
    check_limits(video, limits)
    video = replace(video, size=_size(ydl, info))
    check_limits(video, limits)
    return video


def _playlist(info: dict[str, Any], url: str, limits: LinkLimits) -> Playlist:
    videos: list[Video] = []
    listed = [e for e in info.get("entries") or [] if e]
    for position, entry in enumerate(listed, start=1):
        entry_url = _clean_url(entry.get("url") or "")
        own_address = entry.get("_type") in ("url", "url_transparent") and entry_url.startswith(
            ("http://", "https://")
        )
        videos.append(
            Video(
                url=entry_url if own_address else _clean_url(info.get("webpage_url") or url),
                title=_title(entry),
                duration=_seconds(entry.get("duration")),
                item=None if own_address else int(entry.get("playlist_index") or position),
            )
        )
    if not videos:
        raise LinkError("link_unsupported")
    listed_count = int(info.get("playlist_count") or 0)
    total: int | None = max(listed_count, len(videos))
    if not listed_count and len(videos) > limits.max_items:
        total = None  # cut short by playlistend: there are more, we do not know how many
    return Playlist(
        url=_clean_url(info.get("webpage_url") or url),
        title=_title(info),
        videos=tuple(videos[: limits.max_items]),
        total=total,
    )


def _size(ydl: YoutubeDL, info: dict[str, Any]) -> int | None:
    """The bytes the chosen formats will take, when the source says or a HEAD request tells."""
    total = 0
    for fmt in info.get("requested_formats") or [info]:
        known = fmt.get("filesize") or fmt.get("filesize_approx")
        if not known and protocol(fmt) in ("http", "https") and fmt.get("url"):
            known = _content_length(ydl, fmt)
        if not known:
            return None
        total += int(known)
    return total


def _content_length(ydl: YoutubeDL, fmt: dict[str, Any]) -> int | None:
    try:
        with ydl.urlopen(HEADRequest(fmt["url"], headers=fmt.get("http_headers") or {})) as res:
            value = res.headers.get("Content-Length")
    except YoutubeDLError:
        # Servers that refuse HEAD still serve the file; the download checks the size then.
        return None
    return int(value) if value and value.isdigit() else None


def _title(info: dict[str, Any]) -> str:
    title = str(info.get("title") or info.get("id") or "").strip()
    return re.sub(r"\s+", " ", title)[:512] or "video"


def _seconds(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _clean_url(url: str) -> str:
    return unsmuggle_url(url)[0] if url else url
