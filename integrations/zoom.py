"""Zoom cloud recordings through a Server-to-Server OAuth app: list them, pick a file, download it.

A workspace brings its own app (account id, client id, client secret). The app's token belongs
to the account owner, so ``/users/me/recordings`` lists the owner's cloud recordings. Zoom
answers that listing for at most a month at a time, so longer ranges are asked for in 30-day
windows, each followed through its ``next_page_token`` pages.

Downloads send the token as a bearer header (never in the URL, where logs would keep it), follow
Zoom's redirect to its storage, continue a partial file with ``Range`` and check the size at the
end. Zoom sometimes answers a download with an HTML page (an expired link, a sign-in screen)
and status 200; that is refused rather than saved as a video.

Secrets stay out of reprs and messages: `Credentials` and `AccessToken` hide them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.zoom.us/v2"
DEFAULT_OAUTH_URL = "https://zoom.us/oauth"

# Zoom refuses listing ranges longer than a month.
WINDOW_DAYS = 30
PAGE_SIZE = 300
MIN_DURATION = 30 * 60.0
MIN_SIZE = 40 * 1024 * 1024
RETRY_DELAYS: tuple[float, ...] = (1.0, 3.0, 10.0, 30.0)
# A token is renewed this long before Zoom says it expires, so no request carries a dying one.
TOKEN_MARGIN = 120.0
_TIMEOUT = httpx.Timeout(60.0, connect=15.0)

# Best first: the lecture's slides with the speaker beside them, then slides alone, then the
# speaker alone; any other MP4 comes last.
_RANKS = {
    "shared_screen_with_speaker_view(cc)": 0,
    "shared_screen_with_speaker_view": 0,
    "shared_screen": 1,
    "shared_screen_with_gallery_view": 1,
    "active_speaker": 2,
}
_OTHER_RANK = 3

ProgressCallback = Callable[[int, int | None], Awaitable[None]]


class ZoomError(Exception):
    """Zoom refused or could not be reached; the message is fit to show a person.

    `retryable` says whether asking again later may help (network, 429, 5xx).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | str | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.retryable = retryable


class ZoomAuthError(ZoomError):
    """The credentials do not work (wrong id or secret, app deactivated or deleted)."""


@dataclass(frozen=True)
class Credentials:
    account_id: str
    client_id: str
    client_secret: str = field(repr=False)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Credentials:
        try:
            return cls(
                account_id=str(payload["account_id"]),
                client_id=str(payload["client_id"]),
                client_secret=str(payload["client_secret"]),
            )
        except KeyError as exc:
            raise ZoomAuthError(f"the stored Zoom credentials lack {exc.args[0]}") from None

    def payload(self) -> dict[str, str]:
        return {
            "account_id": self.account_id,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
        }


@dataclass(frozen=True)
class AccessToken:
    value: str = field(repr=False)
    expires_at: float

    def fresh(self, now: float | None = None) -> bool:
        return (now if now is not None else time.time()) + TOKEN_MARGIN < self.expires_at


@dataclass(frozen=True)
class ZoomFile:
    """One file of a cloud recording."""

    id: str
    recording_type: str
    file_type: str
    extension: str
    size: int
    download_url: str
    status: str = "completed"
    start: datetime | None = None
    end: datetime | None = None

    @property
    def processing(self) -> bool:
        return self.status.lower() == "processing"

    @property
    def seconds(self) -> float | None:
        if self.start is None or self.end is None or self.end <= self.start:
            return None
        return (self.end - self.start).total_seconds()

    @property
    def rank(self) -> int:
        return _RANKS.get(self.recording_type.lower(), _OTHER_RANK)

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> ZoomFile:
        return cls(
            id=str(item.get("id") or ""),
            recording_type=str(item.get("recording_type") or ""),
            file_type=str(item.get("file_type") or "").upper(),
            extension=str(item.get("file_extension") or item.get("file_type") or "").lower(),
            size=int(item.get("file_size") or 0),
            download_url=str(item.get("download_url") or ""),
            status=str(item.get("status") or "completed"),
            start=_parse_time(item.get("recording_start")),
            end=_parse_time(item.get("recording_end")),
        )


@dataclass(frozen=True)
class ZoomRecording:
    """A meeting's cloud recording, with the one file worth importing."""

    uuid: str
    meeting_id: str
    topic: str
    start_time: datetime
    duration: float
    """Seconds: the chosen file's own length when Zoom gives it, else the meeting's."""
    file: ZoomFile | None
    processing: bool
    """Zoom is still making some of the files; import it on a later look."""

    @property
    def ref(self) -> str:
        """What a Recording row stores as source_ref: one meeting's one file."""
        return f"{ref_prefix(self.uuid)}{self.file.id if self.file else ''}"

    def options(self, credential_id: int) -> dict[str, Any]:
        """What a Recording row keeps in options["zoom"] to download the file later."""
        file = self.file
        return {
            "credential_id": credential_id,
            "meeting_uuid": self.uuid,
            "meeting_id": self.meeting_id,
            "topic": self.topic,
            "start_time": self.start_time.isoformat(),
            "duration": self.duration,
            "file_id": file.id if file else "",
            "recording_type": file.recording_type if file else "",
            "file_type": file.file_type if file else "",
            "extension": file.extension if file else "",
            "file_size": file.size if file else 0,
            "download_url": file.download_url if file else "",
        }

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> ZoomRecording:
        file = ZoomFile(
            id=str(options.get("file_id") or ""),
            recording_type=str(options.get("recording_type") or ""),
            file_type=str(options.get("file_type") or "MP4"),
            extension=str(options.get("extension") or "mp4"),
            size=int(options.get("file_size") or 0),
            download_url=str(options.get("download_url") or ""),
        )
        return cls(
            uuid=str(options.get("meeting_uuid") or ""),
            meeting_id=str(options.get("meeting_id") or ""),
            topic=str(options.get("topic") or ""),
            start_time=_parse_time(options.get("start_time")) or datetime.now(UTC),
            duration=float(options.get("duration") or 0.0),
            file=file,
            processing=False,
        )


def ref_prefix(meeting_uuid: str) -> str:
    """The start every source_ref of one meeting shares."""
    return f"zoom:{meeting_uuid}:"


def meeting_uuid(ref: str) -> str:
    """The meeting of a source_ref ("zoom:<uuid>:<file id>"); UUIDs are base64, never ':'."""
    return ref.removeprefix("zoom:").rsplit(":", 1)[0]


def best_file(files: Sequence[ZoomFile]) -> ZoomFile | None:
    """The MP4 to import: by view (see _RANKS), then the largest."""
    videos = [f for f in files if f.file_type == "MP4" and f.download_url]
    if not videos:
        return None
    return min(videos, key=lambda f: (f.rank, -f.size, f.start or datetime.max.replace(tzinfo=UTC)))


def meeting_recording(meeting: dict[str, Any]) -> ZoomRecording | None:
    """One listed meeting as a ZoomRecording; None when it has nothing to import."""
    files = [ZoomFile.from_api(f) for f in meeting.get("recording_files") or []]
    files = [f for f in files if f.id]
    chosen = best_file(files)
    processing = any(f.processing for f in files)
    if chosen is None and not processing:
        return None
    start = _parse_time(meeting.get("start_time")) or datetime.now(UTC)
    seconds = chosen.seconds if chosen is not None else None
    return ZoomRecording(
        uuid=str(meeting.get("uuid") or ""),
        meeting_id=str(meeting.get("id") or ""),
        topic=str(meeting.get("topic") or "").strip() or "Zoom",
        start_time=start,
        duration=seconds if seconds is not None else float(meeting.get("duration") or 0) * 60,
        file=chosen,
        processing=processing,
    )


def windows(from_date: date, to_date: date, days: int = WINDOW_DAYS) -> Iterator[tuple[date, date]]:
    """Inclusive date ranges of at most `days` days covering from_date..to_date, newest first."""
    end = to_date
    while end >= from_date:
        start = max(from_date, end - timedelta(days=days - 1))
        yield start, end
        end = start - timedelta(days=1)


class ZoomClient:
    """One Zoom account's API, with its token kept until shortly before it expires."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        api_url: str = DEFAULT_API_URL,
        oauth_url: str = DEFAULT_OAUTH_URL,
        http: httpx.AsyncClient | None = None,
        retry_delays: Sequence[float] = RETRY_DELAYS,
    ) -> None:
        self.credentials = credentials
        self.api_url = api_url.rstrip("/")
        self.oauth_url = oauth_url.rstrip("/")
        self._own_http = http is None
        self.http = http or httpx.AsyncClient(timeout=_TIMEOUT)
        self.retry_delays = tuple(retry_delays)
        self._token: AccessToken | None = None
        self._token_lock = asyncio.Lock()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._own_http:
            await self.http.aclose()

    # --- the token ----------------------------------------------------------------------

    async def token(self, *, renew: bool = False) -> str:
        """A valid access token, asked for only when the cached one is missing or ageing."""
        async with self._token_lock:
            if renew or self._token is None or not self._token.fresh():
                self._token = await self._request_token()
            return self._token.value

    async def _request_token(self) -> AccessToken:
        creds = self.credentials
        if not (creds.account_id and creds.client_id and creds.client_secret):
            raise ZoomAuthError("account id, client id and client secret are all needed")
        response = await self._send(
            "POST",
            f"{self.oauth_url}/token",
            params={"grant_type": "account_credentials", "account_id": creds.account_id},
            auth=(creds.client_id, creds.client_secret),
        )
        body = _json(response)
        if response.status_code in (400, 401, 403):
            reason = str(body.get("reason") or body.get("error") or "invalid credentials")
            raise ZoomAuthError(f"Zoom refused the credentials: {reason}", status=400)
        if response.status_code != 200 or not body.get("access_token"):
            raise ZoomError(
                f"Zoom's sign-in answered {response.status_code}", status=response.status_code
            )
        expires_in = float(body.get("expires_in") or 3600)
        return AccessToken(str(body["access_token"]), time.time() + expires_in)

    # --- API calls ----------------------------------------------------------------------

    async def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """GET an API path; a rejected token is renewed once before giving up."""
        for attempt in range(2):
            token = await self.token(renew=attempt > 0)
            response = await self._send(
                "GET",
                f"{self.api_url}{path}",
                params=params,
                headers={"Authorization": f"Bearer {token}"},
            )
            if response.status_code == 401 and attempt == 0:
                continue
            break
        body = _json(response)
        if response.status_code == 401:
            raise ZoomAuthError(
                _message(body, "Zoom no longer accepts this app's token"), status=401
            )
        if response.status_code >= 400:
            raise ZoomError(
                _message(body, f"Zoom answered {response.status_code}"),
                status=response.status_code,
                code=body.get("code"),
            )
        return body

    async def me(self) -> dict[str, Any]:
        """The account owner's user record (email, name); needs the user:read scope."""
        return await self.get("/users/me")

    async def list_recordings(
        self,
        from_date: date,
        to_date: date,
        *,
        min_duration: float = MIN_DURATION,
        min_size: int = MIN_SIZE,
        user: str = "me",
    ) -> list[ZoomRecording]:
        """Cloud recordings that started from_date..to_date (inclusive), newest first.

        Recordings shorter than `min_duration` seconds are left out, and so are those whose
        chosen file is smaller than `min_size` bytes. One Zoom is still processing is kept with
        `processing` set (its size is not known yet), so a later look can import it.
        """
        found: dict[str, ZoomRecording] = {}
        for start, end in windows(from_date, to_date):
            token = ""
            while True:
                params: dict[str, Any] = {
                    "from": start.isoformat(),
                    "to": end.isoformat(),
                    "page_size": PAGE_SIZE,
                }
                if token:
                    params["next_page_token"] = token
                body = await self.get(f"/users/{user}/recordings", params)
                for meeting in body.get("meetings") or []:
                    recording = meeting_recording(meeting)
                    if recording is not None and _wanted(recording, min_duration, min_size):
                        found.setdefault(recording.uuid, recording)
                token = str(body.get("next_page_token") or "")
                if not token:
                    break
        return sorted(found.values(), key=lambda r: r.start_time, reverse=True)

    # --- downloads ----------------------------------------------------------------------

    async def download(
        self,
        file: ZoomFile,
        dest: Path,
        *,
        token: str | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> Path:
        """Fetch `file` into `dest`, continuing what a partial `dest` already holds.

        A dropped connection resumes from the bytes written so far; the finished file must
        have the size Zoom listed.
        """
        if not file.download_url:
            raise ZoomError("Zoom gave no download address for this file")
        dest.parent.mkdir(parents=True, exist_ok=True)
        token = token or await self.token()
        failures = 0
        renewed = False
        while True:
            have = dest.stat().st_size if dest.exists() else 0
            if file.size and have == file.size:
                return dest
            if file.size and have > file.size:
                dest.unlink()
                have = 0
            try:
                outcome = await self._download_once(file, dest, have, token, on_progress)
            except httpx.TransportError as exc:
                outcome = f"connection lost ({type(exc).__name__})"
            if outcome is None:
                return dest
            if outcome == "token":
                if renewed:
                    raise ZoomAuthError("Zoom no longer accepts this app's token", status=401)
                renewed = True
                token = await self.token(renew=True)
                continue
            if outcome == "restart":
                continue
            if failures >= len(self.retry_delays):
                raise ZoomError(f"the download from Zoom failed: {outcome}", retryable=True)
            log.info("zoom download of file %s interrupted: %s; resuming", file.id, outcome)
            await asyncio.sleep(self.retry_delays[failures])
            failures += 1

    async def _download_once(
        self,
        file: ZoomFile,
        dest: Path,
        have: int,
        token: str,
        on_progress: ProgressCallback | None,
    ) -> str | None:
        """One request; None when the file is complete, else why it is not."""
        headers = {"Authorization": f"Bearer {token}"}
        if have:
            headers["Range"] = f"bytes={have}-"
        async with self.http.stream(
            "GET", file.download_url, headers=headers, follow_redirects=True
        ) as response:
            status = response.status_code
            if status == 416 and have:
                # The server holds nothing past what we have, yet the sizes differ: start over.
                dest.unlink(missing_ok=True)
                return "restart"
            if status == 401:
                return "token"
            if status == 429 or status >= 500:
                return f"Zoom answered {status}"
            if status >= 400:
                body = _json_bytes(await response.aread())
                if status == 404:
                    raise ZoomError(
                        _message(body, "the recording is no longer in Zoom's cloud"),
                        status=404,
                        code=body.get("code"),
                    )
                raise ZoomError(
                    _message(body, f"Zoom refused the download ({status})"),
                    status=status,
                    code=body.get("code"),
                )
            content_type = response.headers.get("content-type", "").lower()
            if content_type.startswith(("text/html", "application/xhtml")):
                raise ZoomError(
                    "Zoom answered with a web page instead of the recording "
                    "(the link may have expired or need a sign-in)",
                    status=status,
                )
            if status == 206:
                if _range_start(response.headers.get("content-range")) != have:
                    dest.unlink(missing_ok=True)
                    return "restart"
                mode = "ab"
            else:
                have = 0
                mode = "wb"
            length = response.headers.get("content-length")
            total = file.size or (have + int(length) if length and length.isdigit() else None)
            with dest.open(mode) as out:
                async for chunk in response.aiter_bytes():
                    out.write(chunk)
                    have += len(chunk)
                    if on_progress is not None:
                        await on_progress(have, total)
        if file.size and have < file.size:
            return f"stopped at {have} of {file.size} bytes"
        if file.size and have != file.size:
            dest.unlink(missing_ok=True)
            raise ZoomError(
                f"the file from Zoom has {have} bytes, but Zoom listed {file.size}",
                status=status,
            )
        return None

    # --- transport ----------------------------------------------------------------------

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request, repeated after network faults, 429 and 5xx with growing pauses."""
        failures = 0
        while True:
            wait: float | None = None
            try:
                response = await self.http.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                reason = f"no answer ({type(exc).__name__})"
            else:
                if response.status_code != 429 and response.status_code < 500:
                    return response
                reason = f"answered {response.status_code}"
                wait = _retry_after(response)
            if failures >= len(self.retry_delays):
                raise ZoomError(f"Zoom {reason}; try again later", retryable=True)
            delay = self.retry_delays[failures]
            if wait is not None:
                delay = max(delay, min(wait, 60.0))
            failures += 1
            log.info("zoom %s %s; retry %d in %.1f s", method, reason, failures, delay)
            await asyncio.sleep(delay)


def _wanted(recording: ZoomRecording, min_duration: float, min_size: int) -> bool:
    if recording.duration and recording.duration < min_duration:
        return False
    if recording.processing or recording.file is None:
        return True
    return recording.file.size >= min_size


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _json(response: httpx.Response) -> dict[str, Any]:
    return _json_bytes(response.content)


def _json_bytes(content: bytes) -> dict[str, Any]:
    with contextlib.suppress(ValueError, UnicodeDecodeError):
        value = json.loads(content)
        if isinstance(value, dict):
            return value
    return {}


def _message(body: dict[str, Any], fallback: str) -> str:
    text = body.get("message") or body.get("reason")
    return str(text) if text else fallback


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return float(value)
    except ValueError:
        return None


def _range_start(content_range: str | None) -> int | None:
    # "bytes 100-199/200"
    if not content_range or not content_range.startswith("bytes "):
        return None
    first = content_range[6:].split("-", 1)[0]
    return int(first) if first.isdigit() else None
