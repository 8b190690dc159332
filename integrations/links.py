"""Recordings behind links: what yt-dlp finds at a URL, and downloading it, behind the guard.

Everything here blocks (yt-dlp is synchronous); callers run it in a thread, or in a process
of its own when it must be stoppable (`integrations.link_probe`). Every request yt-dlp makes —
the page, each redirect hop, manifests, fragments, the media — goes through one request
handler that checks its URL with the address guard and opens its sockets through the guard,
so no download can be steered to a private address.

The same handler bounds what a link can make us hold. A body read whole (a page, a manifest,
an API answer, a redirect's body) may hold PAGE_MAX_BYTES once decoded, and so may every read
while the link is being looked at; only the media of a download streams past that, to disk,
where the size limit of `LinkLimits` stops it. Compressed bodies are inflated as they are read,
never more than was asked for, so a small gzip bomb cannot become a large page. Past the
limit the work ends with `link_page_too_large`, and nothing more is read for it.
"""

from __future__ import annotations

import functools
import http.client
import io
import logging
import re
import threading
import urllib.parse
import urllib.request
import urllib.response
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NoReturn

from yt_dlp import YoutubeDL
from yt_dlp.networking import HEADRequest
from yt_dlp.networking._urllib import HTTPHandler, ProxyHandler, RedirectHandler, UrllibRH
from yt_dlp.networking.exceptions import HTTPError, TransportError
from yt_dlp.utils import (
    DownloadCancelled,
    GeoRestrictedError,
    UnsupportedError,
    YoutubeDLError,
    unsmuggle_url,
)

from integrations.url_guard import AddressGuard, AddressRefused, HostNotFound

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int], None]
"""Called from yt-dlp's thread with the percentage of the whole download."""

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


def inspect(
    url: str, guard: AddressGuard, limits: LinkLimits, *, proxy: str | None = None
) -> Video | Playlist:
    """What the link holds, without downloading any media.

    A single video is checked against the limits here (LinkError when it breaks one); a
    playlist's videos are checked one by one when each is fetched.
    """
    _check_address(url, guard)
    params = {
        **_params(proxy),
        "extract_flat": "in_playlist",
        # One more than we take tells us there are more without reading a whole channel.
        "playlistend": limits.max_items + 1,
    }
    with _GuardedYoutubeDL(params, guard, _Budget()) as ydl:
        info = _extract(ydl, url, guard)
        if info.get("_type") == "playlist":
            return _playlist(info, url, limits)
        _check_playable(info, guard)
        return _video(ydl, info, url, limits)


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
    _check_address(url, guard)
    progress = _Progress(limits, on_progress, cancelled)
    params = {
        **_params(proxy),
        "noplaylist": item is None,
        "outtmpl": {"default": "source.%(ext)s"},
        "paths": {"home": str(folder), "temp": str(folder)},
        "progress_hooks": [progress.hook],
    }
    # A page that has become a playlist since it was looked at gives its first video only.
    params["playlist_items"] = str(item or 1)
    folder.mkdir(parents=True, exist_ok=True)
    budget = _Budget()
    with _GuardedYoutubeDL(params, guard, budget) as ydl:
        info = _extract(ydl, url, guard)
        if info.get("_type") == "playlist":
            entries = [e for e in info.get("entries") or [] if e]
            if not entries:
                raise LinkError("link_not_found")
            info = entries[0]
        _check_playable(info, guard)
        video = _video(ydl, info, url, limits)
        progress.parts = max(len(info.get("requested_formats") or ()), 1)
        # From here on the media streams to disk, bounded by the size limit; pages and
        # manifests read whole stay bounded by the budget.
        budget.media = True
        try:
            done = ydl.process_ie_result(info, download=True)
        except _TooLarge as exc:
            _forget_parts(folder)
            raise _too_large(exc.size, limits) from exc
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


def check_limits(video: Video, limits: LinkLimits) -> None:
    if video.duration is not None and video.duration > limits.max_duration:
        raise LinkError("too_long", {"duration": video.duration, "limit": limits.max_duration})
    if video.size is not None and video.size > limits.max_size:
        raise _too_large(video.size, limits)


def _too_large(size: int, limits: LinkLimits) -> LinkError:
    return LinkError("link_too_large", {"size": size, "limit": limits.max_size})


def _check_address(url: str, guard: AddressGuard) -> None:
    try:
        guard.check_url(url)
    except AddressRefused as exc:
        raise _refusal(exc) from exc
    except HostNotFound as exc:
        raise LinkError("link_unreachable") from exc


def _refusal(exc: AddressRefused) -> LinkError:
    return LinkError(
        {"scheme": "link_scheme", "bad_url": "link_bad"}.get(exc.code, "link_private_address")
    )


def _params(proxy: str | None) -> dict[str, Any]:
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


def _extract(ydl: _GuardedYoutubeDL, url: str, guard: AddressGuard) -> dict[str, Any]:
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


def _check_playable(info: dict[str, Any], guard: AddressGuard) -> None:
    if info.get("is_live") or info.get("live_status") in ("is_live", "is_upcoming", "post_live"):
        raise LinkError("link_live")
    if info.get("_has_drm") or info.get("has_drm"):
        raise LinkError("link_drm")
    formats = info.get("requested_formats") or [info]
    if any(_protocol(f) not in GUARDED_PROTOCOLS for f in formats):
        raise LinkError("link_unsupported")
    # A public page may name media anywhere; refuse now rather than when the bytes are due.
    for fmt in formats:
        if fmt.get("url"):
            _check_address(str(fmt["url"]), guard)


def _protocol(fmt: dict[str, Any]) -> str:
    return str(fmt.get("protocol") or "https").split("+")[0]


def _video(ydl: YoutubeDL, info: dict[str, Any], url: str, limits: LinkLimits) -> Video:
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
        if not known and _protocol(fmt) in ("http", "https") and fmt.get("url"):
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


# --- errors ------------------------------------------------------------------------------

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


def classify(exc: BaseException, guard: AddressGuard, budget: _Budget | None = None) -> LinkError:
    """Turn what yt-dlp raised into a code people get a message for."""
    if guard.refused:
        return _refusal(guard.refused[0])
    if budget is not None and budget.exceeded:
        return budget.refusal()
    chain = list(_causes(exc))
    for cause in chain:
        if isinstance(cause, _PageTooLarge):
            return LinkError("link_page_too_large", {"limit": PAGE_MAX_BYTES // 1_000_000})
        if isinstance(cause, LinkError):
            return cause
        if isinstance(cause, AddressRefused):
            return _refusal(cause)
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


# --- the guarded network layer ------------------------------------------------------------


class _Refused(TransportError):
    """yt-dlp's kind of network error, so extractors and downloaders fail as on any other."""


class _PageTooLarge(TransportError):
    """A body over the budget; a network error to yt-dlp, so that it gives up on the request."""


class _Budget:
    """What one piece of work (looking at a link, downloading it) may read.

    Bodies read whole hold at most `page_bytes`, and so do streamed reads until `media` is
    set: then the media streams to disk and the size limit of the download takes over. The
    first body over the limit spends the budget: nothing more is sent or read for the work,
    so yt-dlp's retries end at once, and the refusal is remembered for `classify`, since
    yt-dlp wraps or swallows what the handler raises.
    """

    def __init__(self, page_bytes: int = PAGE_MAX_BYTES) -> None:
        self.page_bytes = page_bytes
        self.media = False
        self.exceeded = False

    def refusal(self) -> LinkError:
        return LinkError("link_page_too_large", {"limit": self.page_bytes // 1_000_000})

    def spend(self) -> NoReturn:
        self.exceeded = True
        raise _PageTooLarge(f"a body over {self.page_bytes} bytes")

    def check(self) -> None:
        if self.exceeded:
            raise _PageTooLarge("the budget of this link is spent")


_CHUNK = 64 * 1024


class _RawChunks:
    """The bytes of a response as they arrive, one socket read at a time."""

    def __init__(self, response: http.client.HTTPResponse) -> None:
        self._response = response

    def chunk(self, most: int) -> bytes:
        data = self._response.read1(most)
        if not data:
            self._response.close()
        return data

    def close(self) -> None:
        self._response.close()


class _Inflated:
    """One content encoding (gzip or deflate) undone as the bytes arrive.

    Never makes more than was asked for in one call: what a small input would still inflate
    to waits in zlib until it is asked for.
    """

    def __init__(self, source: _RawChunks | _Inflated, encoding: str) -> None:
        self._source = source
        # "deflate" comes both raw and with zlib's two-byte header: the first bytes tell.
        self._inflater: Any = (
            None if encoding == "deflate" else zlib.decompressobj(zlib.MAX_WBITS | 16)
        )
        self._head = b""

    def chunk(self, most: int) -> bytes:
        while True:
            inflater = self._inflater
            if inflater is not None and inflater.eof:
                # One payload only, as yt-dlp decodes it: whatever follows is ignored.
                return b""
            if inflater is not None and inflater.unconsumed_tail:
                data = inflater.unconsumed_tail
            else:
                data = self._source.chunk(_CHUNK)
                if not data:
                    return self._drain(most)
            if inflater is None:
                self._head += data
                if len(self._head) < 2:
                    continue
                data, self._head = self._head, b""
                inflater = self._inflater = _deflater_for(data)
            out = inflater.decompress(data, most)
            if out:
                return out
            if inflater.unconsumed_tail == data:
                raise zlib.error("compressed data makes no progress")

    def _drain(self, most: int) -> bytes:
        """What zlib still holds once the input has ended."""
        if self._inflater is None:
            if not self._head:
                return b""
            head, self._head = self._head, b""
            self._inflater = _deflater_for(head)
            return bytes(self._inflater.decompress(head, most))
        if self._inflater.eof:
            return b""
        return bytes(self._inflater.decompress(b"", most))

    def close(self) -> None:
        self._source.close()


def _deflater_for(head: bytes) -> Any:
    zlib_header = len(head) >= 2 and head[0] & 0x0F == 8 and ((head[0] << 8) | head[1]) % 31 == 0
    return zlib.decompressobj(zlib.MAX_WBITS if zlib_header else -zlib.MAX_WBITS)


class _Body(io.RawIOBase):
    """A response body read within the budget (see `_Budget`)."""

    def __init__(self, response: http.client.HTTPResponse, budget: _Budget) -> None:
        super().__init__()
        self._budget = budget
        source: _RawChunks | _Inflated = _RawChunks(response)
        # Content-Encoding lists the encodings in the order they were applied; any other
        # than these is passed on as it came, as yt-dlp does with one it cannot undo.
        encodings = [
            e.strip().lower() for e in (response.headers.get("Content-Encoding") or "").split(",")
        ]
        encoded = False
        for encoding in reversed(encodings):
            if encoding in ("gzip", "x-gzip", "deflate"):
                source = _Inflated(source, "deflate" if encoding == "deflate" else "gzip")
                encoded = True
        self._source = source
        declared = response.headers.get("Content-Length")
        exact = declared and declared.isdigit() and not encoded
        exact = exact and getattr(response, "_method", None) != "HEAD"
        self._declared = int(declared) if exact else None
        self._taken = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        self._budget.check()
        whole = size is None or size < 0
        if whole and self._declared is not None and self._declared > self._budget.page_bytes:
            self._refuse()  # no need to read what it says it holds
        want = self._budget.page_bytes + 1 - self._taken if whole else size
        if whole and want <= 0:
            self._refuse()  # read whole after more than a page came in pieces
        pieces: list[bytes] = []
        got = 0
        while want is not None and got < want:
            piece = self._source.chunk(min(want - got, _CHUNK) if whole else want - got)
            if not piece:
                break
            pieces.append(piece)
            got += len(piece)
            self._taken += len(piece)
            if self._taken > self._budget.page_bytes and (whole or not self._budget.media):
                self._refuse()
        return b"".join(pieces)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._source.close()
        super().close()

    def _refuse(self) -> NoReturn:
        # Closing tells the server at once that nobody reads the rest.
        self.close()
        self._budget.spend()


class _GuardedHTTPHandler(HTTPHandler):
    def __init__(self, guard: AddressGuard, budget: _Budget, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._guard = guard
        self._budget = budget

    def http_response(self, req: urllib.request.Request, resp: Any) -> Any:
        # yt-dlp's own handler reads a compressed body whole and inflates it at once.
        wrapped = urllib.response.addinfourl(
            _Body(resp, self._budget), resp.headers, resp.url, resp.code
        )
        wrapped.msg = resp.msg
        wrapped.reason = getattr(resp, "reason", None)
        return wrapped

    https_response = http_response

    def http_open(self, req: urllib.request.Request) -> Any:
        return self._open(http.client.HTTPConnection, req)

    def https_open(self, req: urllib.request.Request) -> Any:
        return self._open(http.client.HTTPSConnection, req, context=self._context)

    def _open(self, base: type[http.client.HTTPConnection], req: Any, **extra: Any) -> Any:
        # Through a proxy the socket leads to the proxy the operator chose; the URL of every
        # hop has been checked by then, which is all a proxy lets us see.
        proxied = (
            req.has_proxy()
            or getattr(req, "_tunnel_host", None)
            or req.has_header("Ytdl-socks-proxy")
        )
        conn_class = self._make_conn_class(base, req)
        source = self._source_address

        guard = self._guard

        def connection(*args: Any, **kwargs: Any) -> http.client.HTTPConnection:
            conn = conn_class(*args, **kwargs)
            if not proxied:
                conn._create_connection = guard.connect  # type: ignore[attr-defined]
            if source is not None:
                conn.source_address = (source, 0)
            opened = conn.connect

            def connect() -> None:
                opened()
                # The socket it reads from, TLS and all, so that closing the guard ends it.
                if conn.sock is not None:
                    guard.track(conn.sock)

            conn.connect = connect  # type: ignore[method-assign]
            return conn

        return self.do_open(connection, req, **extra)


class _GuardedRedirects(RedirectHandler):
    """Checks each redirect's target before following it (urllib would follow ftp:// too)."""

    def __init__(self, guard: AddressGuard) -> None:
        super().__init__()
        self._guard = guard

    def _checked(self, req: Any, fp: Any, code: int, msg: str, headers: Any) -> Any:
        target = headers.get("location") or headers.get("uri")
        if target:
            self._guard.check_url(urllib.parse.urljoin(req.full_url, target))
        return RedirectHandler.http_error_302(self, req, fp, code, msg, headers)

    http_error_301 = http_error_302 = http_error_303 = http_error_307 = http_error_308 = _checked


class LeapGuardedRH(UrllibRH):
    """yt-dlp's urllib handler with every URL, redirect and socket checked by the guard."""

    _SUPPORTED_URL_SCHEMES = ("http", "https")

    def __init__(self, *, guard: AddressGuard, budget: _Budget, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._guard = guard
        self._budget = budget

    def _create_instance(
        self, proxies: dict[str, str], cookiejar: Any, legacy_ssl_support: bool | None = None
    ) -> urllib.request.OpenerDirector:
        opener = urllib.request.OpenerDirector()
        for handler in (
            ProxyHandler(proxies),
            _GuardedHTTPHandler(
                self._guard,
                self._budget,
                debuglevel=int(bool(self.verbose)),
                context=self._make_sslcontext(legacy_ssl_support=legacy_ssl_support),
                source_address=self.source_address,
            ),
            urllib.request.HTTPCookieProcessor(cookiejar),
            urllib.request.UnknownHandler(),
            urllib.request.HTTPDefaultErrorHandler(),
            urllib.request.HTTPErrorProcessor(),
            _GuardedRedirects(self._guard),
        ):
            opener.add_handler(handler)
        opener.addheaders = []
        return opener

    def _prepare_headers(self, request: Any, headers: Any) -> None:
        # Only the encodings `_Inflated` undoes as it reads, whatever else yt-dlp could.
        if "Accept-Encoding" not in headers:
            headers["Accept-Encoding"] = "gzip, deflate"

    def _send(self, request: Any) -> Any:
        self._budget.check()
        try:
            self._guard.check_url(request.url)
            return super()._send(request)
        except (AddressRefused, HostNotFound) as exc:
            raise _Refused(cause=exc) from exc


class _GuardedYoutubeDL(YoutubeDL):
    """YoutubeDL whose only way onto the network is the guarded handler."""

    def __init__(self, params: dict[str, Any], guard: AddressGuard, budget: _Budget) -> None:
        self._guard = guard
        self.budget = budget
        super().__init__(params)

    def build_request_director(self, handlers: Any, preferences: Any = None) -> Any:
        return super().build_request_director(
            [functools.partial(LeapGuardedRH, guard=self._guard, budget=self.budget)], preferences
        )


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
