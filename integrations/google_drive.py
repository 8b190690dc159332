"""Google Drive files through the workspace's Google connection: files.get, then the bytes.

Rules it keeps:

- `file_id` knows Drive's file links (``/file/d/<id>/…``, ``/open?id=``, ``/uc?id=``, also on
  docs.google.com); folders and documents are not files to download.
- Metadata is ``GET /drive/v3/files/<id>?fields=id,name,size,mimeType``; only video and audio
  files (or a generic binary with a media name) are taken.
- The bytes come from ``alt=media`` in Range requests of `chunk_size`, appended to a
  ``.part`` file as they arrive: a download that breaks in the middle of a chunk keeps what
  arrived, and the next try asks for ``bytes=<what is on disk>-``. A 200 answer to a Range
  request (a server that ignores Range) restarts the file from its first byte.
- An access token Google no longer takes (401) is renewed once through `renew` and the
  request is made again; a refused renewal (revoked grant) is `DriveError("drive_revoked")`.
- Every failure is a DriveError whose `code` names an ``error.*`` message; `transient` ones
  (network, 429, 5xx) may succeed later. No token reaches a log or a message.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx

from integrations import google_oauth

DEFAULT_API_URL = "https://www.googleapis.com"
CHUNK_SIZE = 8 * 1024 * 1024
_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
_HOSTS = frozenset({"drive.google.com", "docs.google.com"})
_ID = re.compile(r"^[A-Za-z0-9_-]{10,200}$")
_MEDIA_NAME = re.compile(r"(?i)\.(mp4|m4v|mov|mkv|webm|avi|mpe?g|ts|mp3|m4a|wav|ogg|oga|flac|aac)$")
TRANSIENT_CODES = frozenset({"drive_unreachable"})

Progress = Callable[[int, int | None], Awaitable[None]]
Renew = Callable[[], Awaitable[str]]


class DriveError(Exception):
    """What went wrong with a Drive file; `code` names an ``error.*`` message."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail

    @property
    def transient(self) -> bool:
        return self.code in TRANSIENT_CODES


@dataclass(frozen=True)
class DriveFile:
    id: str
    name: str
    size: int | None
    mime_type: str

    @property
    def is_media(self) -> bool:
        kind = self.mime_type.split("/", 1)[0]
        if kind in ("video", "audio"):
            return True
        return self.mime_type == "application/octet-stream" and bool(_MEDIA_NAME.search(self.name))


def file_id(url: str) -> str | None:
    """The file id of a Drive file link, or None for anything else."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or host not in _HOSTS:
        return None
    found: str | None = None
    match = re.match(r"^(?:/a/[^/]+)?/file/d/([^/?#]+)", parts.path)
    if match:
        found = match.group(1)
    elif re.match(r"^(?:/a/[^/]+)?/(open|uc)/?$", parts.path):
        values = parse_qs(parts.query).get("id")
        found = values[0] if values else None
    return found if found and _ID.match(found) else None


class DriveClient:
    """One person's access to Drive: an access token and the way to renew it."""

    def __init__(
        self,
        access_token: str,
        renew: Renew,
        *,
        api_url: str = DEFAULT_API_URL,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self._token = access_token
        self._renew = renew
        self._base = api_url.rstrip("/") + "/drive/v3/files/"
        self._http = http or httpx.AsyncClient(timeout=_TIMEOUT)
        self._own_http = http is None

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()

    async def __aenter__(self) -> DriveClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    def _url(self, fid: str) -> str:
        return self._base + quote(fid, safe="")

    async def metadata(self, fid: str) -> DriveFile:
        params = {"fields": "id,name,size,mimeType", "supportsAllDrives": "true"}
        response = await self._send("GET", self._url(fid), params=params)
        body = _json(response)
        size = body.get("size")
        return DriveFile(
            id=str(body.get("id") or fid),
            name=str(body.get("name") or fid),
            size=int(size) if isinstance(size, str | int) and str(size).isdigit() else None,
            mime_type=str(body.get("mimeType") or ""),
        )

    async def download(
        self,
        drive_file: DriveFile,
        part: Path,
        *,
        on_progress: Progress | None = None,
        chunk_size: int = CHUNK_SIZE,
        max_size: int | None = None,
    ) -> Path:
        """Bring the file's bytes into `part`, continuing what is already there."""
        total = drive_file.size
        if max_size is not None and total is not None and total > max_size:
            raise DriveError("drive_too_large", str(total))
        done = part.stat().st_size if part.exists() else 0
        if total is not None and done > total:
            part.unlink()
            done = 0
        params = {"alt": "media", "supportsAllDrives": "true"}
        url = self._url(drive_file.id)
        while total is None or done < total:
            last = done + chunk_size - 1
            if total is not None:
                last = min(last, total - 1)
            headers = {"Range": f"bytes={done}-{last}"}
            done, total, finished = await self._chunk(
                url, params, headers, part, done, total, on_progress, max_size
            )
            if finished:
                break
        return part

    async def _chunk(
        self,
        url: str,
        params: dict[str, str],
        headers: dict[str, str],
        part: Path,
        done: int,
        total: int | None,
        on_progress: Progress | None,
        max_size: int | None,
    ) -> tuple[int, int | None, bool]:
        """One Range request streamed to disk; (bytes on disk, total, whether it was the end)."""
        for renewed in (False, True):
            try:
                async with self._http.stream(
                    "GET", url, params=params, headers={**headers, **self._auth()}
                ) as response:
                    if response.status_code == 401 and not renewed:
                        await self.renew()
                        continue
                    if response.status_code == 416:
                        # Asked past the end: what is on disk is the whole file.
                        return done, done, True
                    if response.status_code not in (200, 206):
                        await response.aread()
                        raise _error(response)
                    if response.status_code == 200:
                        # The whole file, whatever was asked: start the file again.
                        done = 0
                        part.write_bytes(b"")
                        length = response.headers.get("Content-Length")
                        total = int(length) if length and length.isdigit() else total
                    else:
                        total = _range_total(response) or total
                    with part.open("ab") as fh:
                        async for block in response.aiter_bytes():
                            fh.write(block)
                            done += len(block)
                            if max_size is not None and done > max_size:
                                raise DriveError("drive_too_large", str(done))
                            if on_progress is not None:
                                await on_progress(done, total)
                    finished = response.status_code == 200 or (total is not None and done >= total)
                    return done, total, finished
            except httpx.HTTPError as exc:
                raise DriveError("drive_unreachable", type(exc).__name__) from None
        raise DriveError("drive_revoked", "401 after a renewed token")

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        for renewed in (False, True):
            try:
                response = await self._http.request(method, url, headers=self._auth(), **kwargs)
            except httpx.HTTPError as exc:
                raise DriveError("drive_unreachable", type(exc).__name__) from None
            if response.status_code == 401 and not renewed:
                await self.renew()
                continue
            if response.status_code != 200:
                raise _error(response)
            return response
        raise DriveError("drive_revoked", "401 after a renewed token")

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}

    async def renew(self) -> None:
        """A fresh access token through the connection's refresh token."""
        try:
            self._token = await self._renew()
        except google_oauth.OAuthRevoked:
            raise DriveError("drive_revoked") from None
        except google_oauth.OAuthTransient:
            raise DriveError("drive_unreachable", "token endpoint") from None
        except google_oauth.OAuthError as exc:
            raise DriveError("drive_revoked", exc.error) from None


def _range_total(response: httpx.Response) -> int | None:
    # Content-Range: bytes 0-1023/4096
    value = response.headers.get("Content-Range", "")
    _, _, total = value.rpartition("/")
    return int(total) if total.isdigit() else None


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _reason(response: httpx.Response) -> str:
    error = _json(response).get("error")
    if isinstance(error, dict):
        for item in error.get("errors") or []:
            if isinstance(item, dict) and item.get("reason"):
                return str(item["reason"])
        return str(error.get("status") or "")
    return ""


def _error(response: httpx.Response) -> DriveError:
    status, reason = response.status_code, _reason(response)
    if status == 429 or status >= 500 or reason in ("rateLimitExceeded", "userRateLimitExceeded"):
        return DriveError("drive_unreachable", f"HTTP {status}")
    if status == 404:
        return DriveError("drive_not_found")
    if status == 403 and reason == "insufficientPermissions":
        return DriveError("drive_scope")
    if status == 403 and reason in ("cannotDownloadFile", "downloadQuotaExceeded"):
        return DriveError("drive_cannot_download", reason)
    if status == 403:
        return DriveError("drive_no_access", reason)
    if status == 401:
        return DriveError("drive_revoked")
    return DriveError("drive_failed", f"HTTP {status} {reason}".strip())
