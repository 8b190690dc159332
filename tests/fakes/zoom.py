"""Zoom's OAuth and cloud recording API for tests.

`FakeZoom` listens on 127.0.0.1 and answers httpx the way Zoom does:

- ``POST /oauth/token?grant_type=account_credentials&account_id=…`` with HTTP Basic
  ``client_id:client_secret`` → ``{"access_token", "token_type", "expires_in", "scope"}``;
  wrong credentials → 400 ``{"reason", "error": "invalid_client"}``.
- ``GET /v2/users/me`` and ``GET /v2/users/me/recordings?from&to&page_size&next_page_token``
  with a bearer token; ranges longer than a month are refused as Zoom refuses them (code 300),
  pages are cut at `page_size` meetings, expired tokens get 401 code 124.
- ``GET /rec/download/<file id>`` → 302 to ``/storage/<file id>`` (Zoom's storage), which
  serves the bytes with ``Range`` support. A file can answer with an HTML page instead, or
  drop the connection halfway once.

Everything that arrives is recorded (`token_grants`, `list_calls`, `downloads`), and `fail`
injects status codes::

    async with FakeZoom() as zoom:
        zoom.add_meeting("Algebra", start, 60, [zoom.mp4("shared_screen", video_bytes)])
        zoom.fail("recordings", 503)          # the next listing answers 503
"""

from __future__ import annotations

import base64
import itertools
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiohttp import web

from tests.fakes.server import FakeServer, listen

MAX_RANGE_DAYS = 31


@dataclass
class FakeFile:
    id: str
    recording_type: str
    content: bytes
    file_type: str = "MP4"
    status: str = "completed"
    listed_size: int | None = None
    html: bool = False
    drop_at: int | None = None
    """Close the connection after this many bytes, the first time only."""

    @property
    def size(self) -> int:
        return self.listed_size if self.listed_size is not None else len(self.content)


@dataclass
class FakeMeeting:
    uuid: str
    id: int
    topic: str
    start_time: datetime
    minutes: int
    files: list[FakeFile] = field(default_factory=list)


@dataclass
class Download:
    file_id: str
    range: str | None


class FakeZoom(FakeServer):
    def __init__(
        self,
        *,
        account_id: str = "AcctTest_7Qx2",
        client_id: str = "ClientTest_k9Vd",
        client_secret: str = "ZoomSecret_a8f3c1e9b7d5",
        email: str = "lecturer@example.edu",
        page_size: int = 2,
    ) -> None:
        self.account_id = account_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.email = email
        self.page_size = page_size
        self.base_url = ""
        self.meetings: list[FakeMeeting] = []
        self.token_grants: list[str] = []
        self.list_calls: list[dict[str, str]] = []
        self.downloads: list[Download] = []
        self._tokens: dict[str, float] = {}
        self._pages: dict[str, tuple[date, date, int]] = {}
        self._faults: dict[str, list[int]] = {}
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None

    # -- lifecycle ----------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/oauth/token", self._token)
        app.router.add_get("/v2/users/me", self._me)
        app.router.add_get("/v2/users/me/recordings", self._recordings)
        app.router.add_get("/rec/download/{file_id}", self._download)
        app.router.add_get("/storage/{file_id}", self._storage)
        self._runner, self.base_url = await listen(app)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/v2"

    @property
    def oauth_url(self) -> str:
        return f"{self.base_url}/oauth"

    def credentials(self) -> dict[str, str]:
        return {
            "account_id": self.account_id,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
        }

    # -- the account's recordings ---------------------------------------------

    def mp4(
        self,
        recording_type: str,
        content: bytes,
        *,
        status: str = "completed",
        listed_size: int | None = None,
        html: bool = False,
        drop_at: int | None = None,
    ) -> FakeFile:
        return FakeFile(
            id=f"f{next(self._ids):04d}-{secrets.token_hex(6)}",
            recording_type=recording_type,
            content=content,
            status=status,
            listed_size=listed_size,
            html=html,
            drop_at=drop_at,
        )

    def other(self, file_type: str, recording_type: str, content: bytes = b"x") -> FakeFile:
        found = self.mp4(recording_type, content)
        found.file_type = file_type
        return found

    def add_meeting(
        self, topic: str, start: datetime, minutes: int, files: list[FakeFile]
    ) -> FakeMeeting:
        number = next(self._ids)
        meeting = FakeMeeting(
            uuid=f"{secrets.token_urlsafe(16)}==",
            id=80_000_000_000 + number,
            topic=topic,
            start_time=start,
            minutes=minutes,
            files=files,
        )
        self.meetings.append(meeting)
        return meeting

    def finish_processing(self, meeting: FakeMeeting) -> None:
        for item in meeting.files:
            item.status = "completed"

    def fail(self, route: str, status: int, times: int = 1) -> None:
        """The next `times` requests to `route` (token, recordings, download) answer `status`."""
        self._faults.setdefault(route, []).extend([status] * times)

    def expire_tokens(self) -> None:
        self._tokens.clear()

    def file_url(self, item: FakeFile) -> str:
        return f"{self.base_url}/rec/download/{item.id}"

    # -- handlers -------------------------------------------------------------

    def _fault(self, route: str) -> web.Response | None:
        pending = self._faults.get(route)
        if not pending:
            return None
        status = pending.pop(0)
        return web.json_response({"code": status, "message": "injected failure"}, status=status)

    async def _token(self, request: web.Request) -> web.Response:
        if (fault := self._fault("token")) is not None:
            return fault
        if request.query.get("grant_type") != "account_credentials":
            return web.json_response(
                {"reason": "unsupported grant type", "error": "unsupported_grant_type"}, status=400
            )
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return web.json_response(
                {"reason": "Invalid client_id or client_secret", "error": "invalid_client"},
                status=400,
            )
        if request.query.get("account_id") != self.account_id:
            return web.json_response(
                {"reason": "Invalid account_id", "error": "invalid_request"}, status=400
            )
        token = secrets.token_urlsafe(24)
        self._tokens[token] = time.time() + 3600
        self.token_grants.append(self.account_id)
        return web.json_response(
            {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": 3599,
                "scope": "cloud_recording:read:list_user_recordings:admin user:read:user:admin",
                "api_url": self.base_url,
            }
        )

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ")
        return header.startswith("Bearer ") and self._tokens.get(token, 0) > time.time()

    @staticmethod
    def _invalid_token() -> web.Response:
        return web.json_response({"code": 124, "message": "Invalid access token."}, status=401)

    async def _me(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._invalid_token()
        return web.json_response(
            {"id": "uLecturer01", "email": self.email, "first_name": "Lena", "type": 2}
        )

    async def _recordings(self, request: web.Request) -> web.Response:
        if (fault := self._fault("recordings")) is not None:
            return fault
        if not self._authorized(request):
            return self._invalid_token()
        query = dict(request.query)
        self.list_calls.append(query)
        token = query.get("next_page_token")
        if token:
            if token not in self._pages:
                return web.json_response(
                    {"code": 300, "message": "Invalid next_page_token"}, status=400
                )
            first, last, offset = self._pages.pop(token)
        else:
            try:
                first = date.fromisoformat(query["from"])
                last = date.fromisoformat(query["to"])
            except (KeyError, ValueError):
                return web.json_response({"code": 300, "message": "Invalid date"}, status=400)
            if (last - first).days > MAX_RANGE_DAYS - 1:
                return web.json_response(
                    {"code": 300, "message": "The date range can be a maximum of one month."},
                    status=400,
                )
            offset = 0
        matching = sorted(
            (m for m in self.meetings if first <= m.start_time.date() <= last),
            key=lambda m: m.start_time,
            reverse=True,
        )
        size = min(int(query.get("page_size") or 30), self.page_size)
        page = matching[offset : offset + size]
        next_token = ""
        if offset + size < len(matching):
            next_token = secrets.token_urlsafe(12)
            self._pages[next_token] = (first, last, offset + size)
        return web.json_response(
            {
                "from": first.isoformat(),
                "to": last.isoformat(),
                "page_size": size,
                "total_records": len(matching),
                "next_page_token": next_token,
                "meetings": [self._meeting_json(m) for m in page],
            }
        )

    def _meeting_json(self, meeting: FakeMeeting) -> dict[str, Any]:
        start = meeting.start_time
        end = start + timedelta(minutes=meeting.minutes)
        return {
            "uuid": meeting.uuid,
            "id": meeting.id,
            "account_id": self.account_id,
            "host_id": "uLecturer01",
            "topic": meeting.topic,
            "type": 2,
            "start_time": _z(start),
            "timezone": "Europe/Moscow",
            "duration": meeting.minutes,
            "total_size": sum(f.size for f in meeting.files),
            "recording_count": len(meeting.files),
            "share_url": f"{self.base_url}/rec/share/{meeting.id}",
            "recording_files": [
                {
                    "id": f.id,
                    "meeting_id": meeting.uuid,
                    "recording_start": _z(start),
                    "recording_end": _z(end),
                    "file_type": f.file_type,
                    "file_extension": f.file_type,
                    "file_size": f.size if f.status == "completed" else 0,
                    "play_url": f"{self.base_url}/rec/play/{f.id}",
                    "download_url": self.file_url(f),
                    "status": f.status,
                    "recording_type": f.recording_type,
                }
                for f in meeting.files
            ],
        }

    def _find(self, file_id: str) -> FakeFile | None:
        for meeting in self.meetings:
            for item in meeting.files:
                if item.id == file_id:
                    return item
        return None

    async def _download(self, request: web.Request) -> web.Response:
        if (fault := self._fault("download")) is not None:
            return fault
        if not self._authorized(request):
            return self._invalid_token()
        item = self._find(request.match_info["file_id"])
        if item is None:
            return web.json_response(
                {"code": 3301, "message": "This recording does not exist."}, status=404
            )
        # Zoom hands the bytes out from its storage under a signed, short-lived address.
        raise web.HTTPFound(f"/storage/{item.id}?sig={secrets.token_hex(8)}")

    async def _storage(self, request: web.Request) -> web.StreamResponse:
        item = self._find(request.match_info["file_id"])
        if item is None or "sig" not in request.query:
            return web.Response(status=403, text="AccessDenied", content_type="application/xml")
        self.downloads.append(Download(item.id, request.headers.get("Range")))
        if item.html:
            page = "<!DOCTYPE html><html><body><h1>Error</h1><p>Sign in</p></body></html>"
            return web.Response(text=page, content_type="text/html")
        data = item.content
        start = 0
        status = 200
        headers = {"Content-Type": "video/mp4", "Accept-Ranges": "bytes"}
        wanted = request.headers.get("Range", "")
        if wanted.startswith("bytes="):
            first = wanted[6:].split("-", 1)[0]
            start = int(first) if first.isdigit() else 0
            if start >= len(data):
                return web.Response(status=416, headers={"Content-Range": f"bytes */{len(data)}"})
            status = 206
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        body = data[start:]
        response = web.StreamResponse(status=status, headers=headers)
        response.content_length = len(body)
        await response.prepare(request)
        if item.drop_at is not None and start < item.drop_at:
            cut = item.drop_at - start
            item.drop_at = None
            await response.write(body[:cut])
            assert request.transport is not None
            request.transport.close()
            return response
        await response.write(body)
        await response.write_eof()
        return response


def _z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
