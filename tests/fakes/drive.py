"""Google Drive v3 files.get for tests, on the same fake Google that issues the tokens.

`FakeDrive` is a `FakeGoogle` (OAuth, YouTube) that also answers, as Google does:

- ``GET /drive/v3/files/<id>?fields=…`` — the file's metadata (``id``, ``name``, ``size`` as a
  string, ``mimeType``), narrowed to the fields asked for;
- ``GET /drive/v3/files/<id>?alt=media`` — its bytes, ``206 Partial Content`` with
  ``Content-Range`` for a ``Range: bytes=a-b`` (or ``a-``) header, ``416`` past the end, and
  ``200`` with everything without one.

Both check the bearer token the fake issued: unknown or expired → 401, a token without
``drive.readonly`` or ``drive`` → 403 ``insufficientPermissions``; a file the account cannot
see → 404 ``notFound``, as Drive answers. `cut_media(after=N)` sends the first N bytes of the
next media answer and closes the connection, as a dropped download does. Every Range header
that arrives is kept in `ranges`.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.google import FakeGoogle, _Drop, google_error

DRIVE_SCOPES = frozenset(
    {
        "https://www.googleapis.com/auth/drive.readonly",
        "https://www.googleapis.com/auth/drive",
    }
)
_PATH = re.compile(r"^/drive/v3/files/([^/]+)$")


@dataclass
class DriveEntry:
    id: str
    name: str
    mime_type: str
    data: bytes
    visible: bool = True


class FakeDrive(FakeGoogle):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.files: dict[str, DriveEntry] = {}
        self.ranges: list[str | None] = []
        self.media_requests = 0
        self._cuts: list[tuple[int, Callable[[], None] | None]] = []

    def add_file(
        self, data: bytes, name: str = "lecture.mp4", mime_type: str = "video/mp4"
    ) -> DriveEntry:
        entry = DriveEntry("1" + secrets.token_urlsafe(24).replace("-", "x"), name, mime_type, data)
        self.files[entry.id] = entry
        return entry

    def cut_media(
        self, *, after: int, times: int = 1, then: Callable[[], None] | None = None
    ) -> None:
        """The next `times` media answers stop after `after` bytes of their body; `then` runs
        as each connection drops (say, the person withdrawing the app's access)."""
        self._cuts.extend([(after, then)] * times)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        match = _PATH.match(request.path)
        if match is None or request.method != "GET":
            return await super()._middleware(request, handler)
        self.requests.append((request.method, request.path))
        try:
            return await self._files_get(request, match.group(1))
        except _Drop:
            if request.transport is not None:
                request.transport.close()
            raise asyncio.CancelledError from None

    async def _files_get(self, request: web.Request, fid: str) -> web.StreamResponse:
        denied = self._drive_auth(request)
        if denied is not None:
            return denied
        entry = self.files.get(fid)
        if entry is None or not entry.visible:
            return google_error(404, "notFound", f"File not found: {fid}.")
        if request.query.get("alt") == "media":
            return await self._media(request, entry)
        resource = {
            "kind": "drive#file",
            "id": entry.id,
            "name": entry.name,
            "mimeType": entry.mime_type,
            "size": str(len(entry.data)),
        }
        fields = request.query.get("fields")
        if fields:
            wanted = {f.strip() for f in fields.split(",")}
            resource = {k: v for k, v in resource.items() if k in wanted}
        return web.json_response(resource)

    def _drive_auth(self, request: web.Request) -> web.Response | None:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        token = self.access_tokens.get(value) if scheme.lower() == "bearer" else None
        if token is None or token.expired:
            return google_error(401, "authError", "Request had invalid authentication credentials.")
        if not token.scopes & DRIVE_SCOPES:
            return google_error(
                403, "insufficientPermissions", "Request had insufficient authentication scopes."
            )
        return None

    async def _media(self, request: web.Request, entry: DriveEntry) -> web.StreamResponse:
        self.media_requests += 1
        header = request.headers.get("Range")
        self.ranges.append(header)
        size = len(entry.data)
        start, end, status = 0, size - 1, 200
        if header:
            found = re.fullmatch(r"bytes=(\d+)-(\d*)", header.strip())
            if found is None:
                return google_error(400, "badRequest", "Invalid Range header.")
            start = int(found.group(1))
            end = min(int(found.group(2)), size - 1) if found.group(2) else size - 1
            if start >= size or end < start:
                return web.Response(status=416, headers={"Content-Range": f"bytes */{size}"})
            status = 206
        body = entry.data[start : end + 1]
        response = web.StreamResponse(status=status)
        response.content_type = entry.mime_type
        response.content_length = len(body)
        if status == 206:
            response.headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        await response.prepare(request)
        if self._cuts:
            cut, then = self._cuts.pop(0)
            await response.write(body[:cut])
            if then is not None:
                then()
            raise _Drop
        await response.write(body)
        await response.write_eof()
        return response
