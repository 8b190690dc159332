"""Paths on a Disk: what a person's link names, and names we make for folders and files.

Rules it keeps:

- A private link is a ``disk:/...`` path or an address of the Disk's own web client
  (``https://disk.yandex.ru/client/disk/<path>``, also with the file opened in its viewer,
  ``...?dialog=slider&idDialog=/disk/<path>``); it names a place on the connected account's
  Disk and is read through the API. Public links (``/d/``, ``/i/``, ``yadi.sk``) are not
  private paths: they keep going through yt-dlp like any other link.
- A name we make from a title keeps letters, digits and spaces, loses what file systems and
  the Disk refuse, and is never empty; it never holds a ``/``, so it stays one path segment.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, unquote, urlsplit

_HOSTS = re.compile(r"^(?:disk\.360\.yandex|disk\.yandex)\.(?:ru|com|by|kz|uz|com\.tr|ua)$")
_CLIENT = "/client/disk"
_BAD = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]+')


def disk_path(text: str) -> str | None:
    """The ``disk:/...`` path a private link names; None for anything else."""
    value = text.strip()
    if value.startswith("disk:/"):
        return _clean("/" + value[len("disk:/") :])
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not _HOSTS.match(parts.hostname or ""):
        return None
    dialog = parse_qs(parts.query).get("idDialog")
    if dialog and dialog[0].startswith("/disk/"):
        return _clean(dialog[0][len("/disk") :])
    path = unquote(parts.path)
    if path == _CLIENT or path.startswith(_CLIENT + "/"):
        return _clean(path[len(_CLIENT) :] or "/")
    return None


def _clean(path: str) -> str | None:
    segments = [s for s in path.split("/") if s]
    if any(s in (".", "..") for s in segments):
        return None
    return "disk:/" + "/".join(segments)


def safe_name(text: str, fallback: str, *, limit: int = 100) -> str:
    """One path segment made from `text` (a title, a course), else `fallback`."""
    cleaned = " ".join(_BAD.sub(" ", text).split())[:limit].strip(" .")
    return cleaned or fallback
