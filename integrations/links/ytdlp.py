"""Running yt-dlp behind the guard, and naming what went wrong.

Rules it keeps:

- Every YoutubeDL is a `GuardedYoutubeDL` made with `ytdl_params`: best picture up to 1080p
  (MP4 with M4A sound preferred, so merging is a stream copy), yt-dlp's own downloaders
  only, no cache, quiet (its chatter goes to our debug log), and ffmpeg, should it be handed
  a stream, allowed to read nothing but the file it is given.
- An address is checked before yt-dlp sees it (`check_address`). A video is refused before
  any media is requested when it is live, has DRM, needs a protocol whose bytes yt-dlp does
  not fetch itself (`GUARDED_PROTOCOLS`), or names media at an address the guard refuses.
- `classify` turns whatever yt-dlp raised into one LinkError code: a guard refusal or a
  spent budget first (yt-dlp wraps or swallows what the handler raises), then the types and
  HTTP statuses along the exception chain, then known phrases in its messages; `link_failed`
  when nothing fits.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

from yt_dlp.networking.exceptions import HTTPError, TransportError
from yt_dlp.utils import GeoRestrictedError, UnsupportedError, YoutubeDLError

from integrations.links.model import PAGE_MAX_BYTES, LinkError
from integrations.links.network import Budget, GuardedYoutubeDL, PageTooLarge
from integrations.url_guard import AddressGuard, AddressRefused, HostNotFound

log = logging.getLogger(__name__)

# Best picture up to 1080p, preferring MP4 video with M4A sound so merging is a stream copy;
# anything else ffmpeg merges into MP4.
FORMAT = "bv*+ba/b"
FORMAT_SORT = ["res:1080", "ext:mp4:m4a"]

# Protocols whose every byte is fetched by yt-dlp itself, and so through the guard.
GUARDED_PROTOCOLS = frozenset(
    {
        "http",
        "https",
        "m3u8",
        "m3u8_native",
        "http_dash_segments",
        "http_dash_segments_generator",
        "ism",
        "f4m",
    }
)


def ytdl_params(proxy: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {
        "quiet": True,
        "noprogress": True,
        "logger": _Log(),
        "format": FORMAT,
        "format_sort": FORMAT_SORT,
        "merge_output_format": "mp4",
        "noplaylist": True,
        "socket_timeout": 20,
        "retries": 3,
        "fragment_retries": 3,
        "extractor_retries": 1,
        "cachedir": False,
        "updatetime": False,
        "color": {"stdout": "no_color", "stderr": "no_color"},
        # Only yt-dlp's own downloaders: their requests pass the guard.
        "external_downloader": {"default": "native"},
        "hls_prefer_native": True,
        # Should yt-dlp still hand a stream to ffmpeg, ffmpeg must not fetch anything itself.
        "external_downloader_args": {"ffmpeg_i": ["-protocol_whitelist", "file,crypto,data"]},
    }
    if proxy:
        params["proxy"] = proxy
    return params


class _Log:
    """yt-dlp's chatter into our log, quietly: failures reach the user through LinkError."""

    def debug(self, msg: str) -> None:
        log.debug("%s", msg)

    def info(self, msg: str) -> None:
        log.debug("%s", msg)

    def warning(self, msg: str) -> None:
        log.debug("yt-dlp: %s", msg)

    def error(self, msg: str) -> None:
        log.info("yt-dlp: %s", msg)


def extract(ydl: GuardedYoutubeDL, url: str, guard: AddressGuard) -> dict[str, Any]:
    try:
        info = ydl.extract_info(url, download=False)
    except YoutubeDLError as exc:
        raise classify(exc, guard, ydl.budget) from exc
    if ydl.budget.exceeded:
        # An extractor that swallowed the refusal has worked on a page it did not get whole.
        raise ydl.budget.refusal()
    if not info:
        raise LinkError("link_unsupported")
    return dict(info)


def check_address(url: str, guard: AddressGuard) -> None:
    try:
        guard.check_url(url)
    except AddressRefused as exc:
        raise refusal(exc) from exc
    except HostNotFound as exc:
        raise LinkError("link_unreachable") from exc


def refusal(exc: AddressRefused) -> LinkError:
    return LinkError(
        {"scheme": "link_scheme", "bad_url": "link_bad"}.get(exc.code, "link_private_address")
    )


def check_playable(info: dict[str, Any], guard: AddressGuard) -> None:
    if info.get("is_live") or info.get("live_status") in ("is_live", "is_upcoming", "post_live"):
        raise LinkError("link_live")
    if info.get("_has_drm") or info.get("has_drm"):
        raise LinkError("link_drm")
    formats = info.get("requested_formats") or [info]
    if any(protocol(f) not in GUARDED_PROTOCOLS for f in formats):
        raise LinkError("link_unsupported")
    # A public page may name media anywhere; refuse now rather than when the bytes are due.
    for fmt in formats:
        if fmt.get("url"):
            check_address(str(fmt["url"]), guard)


def protocol(fmt: dict[str, Any]) -> str:
    return str(fmt.get("protocol") or "https").split("+")[0]


_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (code, re.compile(pattern, re.IGNORECASE))
    for code, pattern in (
        ("link_drm", r"\bdrm\b"),
        ("link_live", r"live event|is live|livestream|live stream|premieres? in|will begin in"),
        ("link_geo", r"geo.?restrict|not available (?:in|from) your (?:country|location|region)"),
        (
            "link_private",
            r"private video|video is private|sign in|log ?in|members.only|"
            r"requires? (?:authentication|an account|subscription)|confirm your age|"
            r"HTTP Error 40[13]",
        ),
        ("link_not_found", r"HTTP Error 40[4]|HTTP Error 410|not found|does not exist"),
        (
            "link_unsupported",
            r"unsupported url|no video formats|requested format is not available|"
            r"no suitable|no video could be found|does not contain a video",
        ),
        (
            "link_unavailable",
            r"video unavailable|no longer available|has been removed|been deleted|"
            r"is not available|copyright|account .* terminated",
        ),
        (
            "link_unreachable",
            r"timed out|connection (?:refused|reset|aborted)|name or service not known|"
            r"temporary failure in name resolution|getaddrinfo|network is unreachable|"
            r"no route to host|HTTP Error (?:429|5\d\d)|remote end closed|"
            r"unable to connect|ssl",
        ),
    )
)


def classify(exc: BaseException, guard: AddressGuard, budget: Budget | None = None) -> LinkError:
    """Turn what yt-dlp raised into a code people get a message for."""
    if guard.refused:
        return refusal(guard.refused[0])
    if budget is not None and budget.exceeded:
        return budget.refusal()
    chain = list(_causes(exc))
    for cause in chain:
        if isinstance(cause, PageTooLarge):
            return LinkError("link_page_too_large", {"limit": PAGE_MAX_BYTES // 1_000_000})
        if isinstance(cause, LinkError):
            return cause
        if isinstance(cause, AddressRefused):
            return refusal(cause)
        if isinstance(cause, HostNotFound):
            return LinkError("link_unreachable")
        if isinstance(cause, GeoRestrictedError):
            return LinkError("link_geo")
        if isinstance(cause, UnsupportedError):
            return LinkError("link_unsupported")
    for cause in chain:
        if isinstance(cause, HTTPError):
            status = cause.status
            if status in (401, 403):
                return LinkError("link_private")
            if status in (404, 410):
                return LinkError("link_not_found")
            if status == 429 or status >= 500:
                return LinkError("link_unreachable")
    text = " ".join(str(c) for c in chain)
    for code, pattern in _PATTERNS:
        if pattern.search(text):
            return LinkError(code)
    if any(isinstance(c, TransportError) for c in chain):
        return LinkError("link_unreachable")
    log.info("link failed: %s", text[:500])
    return LinkError("link_failed")


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        exc_info = getattr(current, "exc_info", None)
        if isinstance(exc_info, tuple) and len(exc_info) > 1:
            pending.append(exc_info[1])
        cause = getattr(current, "cause", None)
        if isinstance(cause, BaseException):
            pending.append(cause)
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            pending.append(reason)
        pending.extend([current.__cause__, current.__context__])
