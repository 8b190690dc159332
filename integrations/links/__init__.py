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

Where each rule lives: `model` (limits, Video, Playlist, LinkError), `network` (the guarded
request handler and the byte budget), `ytdlp` (yt-dlp's options, what is refused before any
media, naming failures), `info` (`inspect`), `fetching` (`download`, its progress and limits).
"""

from integrations.links.fetching import Cancelled, ProgressCallback, download
from integrations.links.info import inspect
from integrations.links.model import (
    PAGE_MAX_BYTES,
    TRANSIENT_CODES,
    LinkError,
    LinkLimits,
    Playlist,
    Video,
    check_limits,
)
from integrations.links.network import LeapGuardedRH
from integrations.links.ytdlp import FORMAT, FORMAT_SORT, GUARDED_PROTOCOLS, classify

__all__ = [
    "FORMAT",
    "FORMAT_SORT",
    "GUARDED_PROTOCOLS",
    "PAGE_MAX_BYTES",
    "TRANSIENT_CODES",
    "Cancelled",
    "LeapGuardedRH",
    "LinkError",
    "LinkLimits",
    "Playlist",
    "ProgressCallback",
    "Video",
    "check_limits",
    "classify",
    "download",
    "inspect",
]
