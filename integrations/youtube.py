"""YouTube Data API v3 over google-api-python-client: channel, resumable upload, extras.

`YouTube` is blocking (httplib2 underneath) and meant to run in a worker thread;
`AsyncYouTube` wraps every call in `asyncio.to_thread` for the arq jobs.

Uploads follow Google's resumable protocol in two steps so a publish stage never uploads
twice: `start_upload` opens a session and returns its URI, which the stage stores before any
byte is sent; `upload` then asks the session how much it already holds (``PUT`` with
``Content-Range: bytes */TOTAL``) and sends the rest in chunks, so the same call continues
an upload a killed worker left behind. A session whose video already exists answers the
question with the video, and `upload` returns its id without sending anything.

The service is built from the discovery document bundled with the library with its root
rewritten to `api_url`: that keeps resumable uploads on the configured host (proxies, plain
HTTP test servers). The ``httplib2.Http`` comes from ``googleapiclient.http.build_http``,
which does not follow Google's ``308 Resume Incomplete`` as a redirect.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.client
import inspect
import json
import logging
import mimetypes
import random
import re
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any, TypedDict, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import google_auth_httplib2
import httplib2
from google.auth import exceptions as auth_exceptions
from google.oauth2.credentials import Credentials
from googleapiclient import discovery_cache
from googleapiclient.discovery import build_from_document
from googleapiclient.errors import HttpError
from googleapiclient.http import HttpRequest, MediaFileUpload, build_http

from integrations.google_oauth import DEFAULT_TOKEN_URL, Tokens

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_API_URL = "https://www.googleapis.com"

# Every chunk but the last must be a multiple of this (Google's resumable-upload rule).
UPLOAD_GRANULARITY = 256 * 1024
DEFAULT_CHUNK_SIZE = 32 * UPLOAD_GRANULARITY

EDUCATION_CATEGORY = "27"

# Reasons that mean "no more of this today": the daily quota resets at midnight Pacific.
QUOTA_REASONS = frozenset({"quotaExceeded", "uploadLimitExceeded", "dailyLimitExceeded"})
# Reasons worth another try after a pause.
TRANSIENT_REASONS = frozenset(
    {"userRateLimitExceeded", "rateLimitExceeded", "backendError", "internalError"}
)

SNIPPET_KEYS = frozenset(
    {"title", "description", "tags", "categoryId", "defaultLanguage", "defaultAudioLanguage"}
)
STATUS_KEYS = frozenset(
    {"privacyStatus", "selfDeclaredMadeForKids", "publishAt", "license", "embeddable"}
)

ProgressCallback = Callable[[int, int], None]
AsyncProgressCallback = Callable[[int, int], Awaitable[None] | None]


class YouTubeError(Exception):
    """YouTube refused; `reason` is Google's error reason (``invalidTitle``, ``forbidden``…)."""

    def __init__(self, reason: str, message: str = "", status: int | None = None) -> None:
        super().__init__(f"{reason}: {message}" if message else reason)
        self.reason = reason
        self.message = message
        self.status = status


class YouTubeTransient(YouTubeError):
    """Still failing after a few tries (5xx, per-user rate limit, network): retry later."""


class YouTubeAuthError(YouTubeError):
    """The grant is gone (revoked refresh token, 401 after a refresh): reconnect the account."""


class QuotaExceeded(YouTubeError):
    """The project's daily quota (or the channel's upload limit) is spent until `reset_at`."""

    def __init__(
        self, reason: str, message: str = "", status: int | None = None, *, reset_at: datetime
    ) -> None:
        super().__init__(reason, message, status)
        self.reset_at = reset_at


class UploadSessionExpired(YouTubeError):
    """The stored session URI is no longer known (sessions live about a week): start anew.

    No video was created through it, so opening a new session cannot duplicate one.
    """


class UploadCancelled(Exception):
    """`upload` stopped between chunks because its caller asked it to."""


class VideoMetadata(TypedDict, total=False):
    title: str
    description: str
    tags: list[str]
    categoryId: str
    defaultLanguage: str
    defaultAudioLanguage: str
    privacyStatus: str
    selfDeclaredMadeForKids: bool
    publishAt: str
    license: str
    embeddable: bool
    notifySubscribers: bool


def next_quota_reset(now: datetime | None = None) -> datetime:
    """The next midnight in Pacific time, when YouTube's daily quotas start over (UTC)."""
    now = now or datetime.now(UTC)
    pacific: tzinfo
    try:
        pacific = ZoneInfo("America/Los_Angeles")
    except ZoneInfoNotFoundError:
        # Without tz data, standard time is the safe guess: during daylight time it waits an
        # hour longer than needed instead of retrying before the reset.
        pacific = timezone(timedelta(hours=-8), "PST")
    tomorrow = now.astimezone(pacific).date() + timedelta(days=1)
    midnight = datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=pacific)
    return midnight.astimezone(UTC)


def video_request(metadata: VideoMetadata) -> tuple[dict[str, Any], dict[str, Any]]:
    """The videos.insert body and its extra query parameters for our metadata.

    Unknown keys raise, so a misspelt field cannot silently publish with a default.
    """
    unknown = set(metadata) - SNIPPET_KEYS - STATUS_KEYS - {"notifySubscribers"}
    if unknown:
        raise ValueError(f"unknown video metadata: {', '.join(sorted(unknown))}")
    if not metadata.get("title"):
        raise ValueError("a video needs a title")
    data: dict[str, Any] = dict(metadata)
    snippet = {key: data[key] for key in SNIPPET_KEYS if key in data}
    snippet.setdefault("categoryId", EDUCATION_CATEGORY)
    status = {key: data[key] for key in STATUS_KEYS if key in data}
    # Private until a person or a template says otherwise: nothing goes public by accident.
    status.setdefault("privacyStatus", "private")
    status.setdefault("selfDeclaredMadeForKids", False)
    params: dict[str, Any] = {}
    if "notifySubscribers" in data:
        params["notifySubscribers"] = bool(data["notifySubscribers"])
    return {"snippet": snippet, "status": status}, params


@functools.cache
def _bundled_discovery() -> str:
    return discovery_cache.get_static_doc("youtube", "v3") or ""


def discovery_document(api_url: str = DEFAULT_API_URL) -> dict[str, Any]:
    """The bundled YouTube v3 discovery document, pointed at `api_url`."""
    text = _bundled_discovery()
    if not text:
        raise RuntimeError("google-api-python-client ships no YouTube v3 discovery document")
    doc: dict[str, Any] = json.loads(text)
    root = api_url.rstrip("/") + "/"
    doc["rootUrl"] = root
    doc["mtlsRootUrl"] = root
    doc["baseUrl"] = root + doc["servicePath"]
    return doc


def _google_error(status: int, content: bytes | str | None) -> tuple[str, str]:
    """(reason, message) from Google's JSON error body, or from the status when there is none."""
    try:
        body = json.loads(content or b"")
    except (ValueError, UnicodeDecodeError):
        return f"http{status}", ""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, str):
        return error, str(body.get("error_description") or "")
    if not isinstance(error, dict):
        return f"http{status}", ""
    message = str(error.get("message") or "")
    reason = None
    for item in error.get("errors") or []:
        if isinstance(item, dict) and item.get("reason"):
            reason = str(item["reason"])
            break
    if reason is None:
        for detail in error.get("details") or []:
            if isinstance(detail, dict) and detail.get("reason"):
                reason = str(detail["reason"])
                break
    return reason or str(error.get("status") or f"http{status}"), message


def error_from_response(status: int, content: bytes | str | None) -> YouTubeError:
    reason, message = _google_error(status, content)
    daily = "day" in message.lower() or "daily" in message.lower()
    if reason in QUOTA_REASONS or (reason == "rateLimitExceeded" and daily):
        return QuotaExceeded(reason, message, status, reset_at=next_quota_reset())
    if status == 401:
        return YouTubeAuthError(reason, message, status)
    if status >= 500 or status == 429 or reason in TRANSIENT_REASONS:
        return YouTubeTransient(reason, message, status)
    return YouTubeError(reason, message, status)


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    """Transport and credential failures as our exceptions."""
    try:
        yield
    except HttpError as exc:
        raise error_from_response(exc.resp.status, exc.content) from exc
    except auth_exceptions.RefreshError as exc:
        # google-auth's message is Google's "error: description", never a token.
        detail = str(exc.args[0]) if exc.args else ""
        code = detail.split(":", 1)[0]
        reason = code if re.fullmatch(r"[a-z_]+", code) else "refreshFailed"
        if exc.retryable:
            raise YouTubeTransient(reason, detail) from exc
        raise YouTubeAuthError(reason, detail) from exc
    except auth_exceptions.TransportError as exc:
        raise YouTubeTransient("network", type(exc).__name__) from exc
    except (OSError, httplib2.HttpLib2Error, http.client.HTTPException) as exc:
        raise YouTubeTransient("network", f"{type(exc).__name__}: {exc}") from exc


class YouTube:
    """One connected channel. Blocking; each call uses its own HTTP connection."""

    def __init__(
        self,
        *,
        access_token: str | None,
        refresh_token: str | None,
        client_id: str,
        client_secret: str,
        token_url: str = DEFAULT_TOKEN_URL,
        api_url: str = DEFAULT_API_URL,
        expires_at: datetime | None = None,
        scope: str = "",
        max_retries: int = 5,
        retry_delay: float = 1.0,
        max_delay: float = 64.0,
        timeout: float = 120.0,
    ) -> None:
        expiry = expires_at.astimezone(UTC).replace(tzinfo=None) if expires_at else None
        self._credentials = Credentials(
            token=access_token,
            refresh_token=refresh_token,
            token_uri=token_url,
            client_id=client_id,
            client_secret=client_secret,
            expiry=expiry,
        )
        self._expires_at = expires_at
        self._api_url = api_url
        self._scope = scope
        self.max_retries = max_retries
        self.retry_delay = retry_delay
        self.max_delay = max_delay
        self.timeout = timeout
        self._service = build_from_document(discovery_document(api_url), http=self._http())

    @classmethod
    def from_tokens(
        cls, tokens: Tokens, *, client_id: str, client_secret: str, **kwargs: Any
    ) -> YouTube:
        return cls(
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,
            client_id=client_id,
            client_secret=client_secret,
            expires_at=tokens.expires_at,
            scope=tokens.scope,
            **kwargs,
        )

    def __repr__(self) -> str:
        return f"<YouTube {self._api_url}>"

    @property
    def tokens(self) -> Tokens:
        """The tokens as they stand now: store them again when `access_token` changed."""
        creds = self._credentials
        if creds.expiry is not None:
            expires_at = creds.expiry.replace(tzinfo=UTC)
        else:
            expires_at = self._expires_at or datetime.now(UTC)
        return Tokens(
            access_token=creds.token or "",
            refresh_token=creds.refresh_token,
            expires_at=expires_at,
            scope=self._scope,
        )

    # -- plumbing ---------------------------------------------------------------------------

    def _http(self) -> google_auth_httplib2.AuthorizedHttp:
        transport = build_http()
        transport.timeout = self.timeout
        return google_auth_httplib2.AuthorizedHttp(self._credentials, http=transport)

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter, as Google's upload guidance describes."""
        delay = min(self.retry_delay * 2 ** (attempt - 1), self.max_delay)
        return delay + random.uniform(0, self.retry_delay)

    def _retrying(self, what: str, call: Callable[[], T]) -> T:
        attempt = 0
        while True:
            try:
                return call()
            except YouTubeTransient as exc:
                attempt += 1
                if attempt > self.max_retries:
                    raise
                delay = self._backoff(attempt)
                log.warning(
                    "YouTube %s: %s, try %d of %d in %.1f s",
                    what,
                    exc.reason,
                    attempt + 1,
                    self.max_retries + 1,
                    delay,
                )
                time.sleep(delay)

    def _execute(self, what: str, request: HttpRequest) -> dict[str, Any]:
        http = self._http()

        def call() -> dict[str, Any]:
            with _translated():
                return request.execute(http=http)  # type: ignore[no-any-return]

        return self._retrying(what, call)

    # -- calls ------------------------------------------------------------------------------

    def channel_title(self) -> str:
        """The title of the channel the grant belongs to, to confirm the connection."""
        request = self._service.channels().list(part="snippet", mine=True)
        answer = self._execute("channels.list", request)
        items = answer.get("items") or []
        if not items:
            raise YouTubeError("noChannel", "this Google account has no YouTube channel yet")
        return str(items[0]["snippet"]["title"])

    def start_upload(self, video_path: Path, metadata: VideoMetadata) -> str:
        """Open a resumable upload session for `video_path`; returns the session URI.

        Store the URI before calling `upload`: it is the only way back to this session, and a
        session without all the bytes never becomes a video.
        """
        path = Path(video_path)
        total = path.stat().st_size
        if total == 0:
            raise ValueError(f"{path.name} is empty")
        body, params = video_request(metadata)
        mimetype = _video_mimetype(path)
        media = MediaFileUpload(
            str(path), mimetype=mimetype, chunksize=UPLOAD_GRANULARITY, resumable=True
        )
        request = self._service.videos().insert(
            part="snippet,status", body=body, media_body=media, **params
        )
        headers = dict(request.headers)
        headers["X-Upload-Content-Type"] = mimetype
        headers["X-Upload-Content-Length"] = str(total)
        http = self._http()

        def initiate() -> str:
            with _translated():
                resp, content = http.request(
                    request.uri, request.method, body=request.body, headers=headers
                )
            if resp.status == 200 and "location" in resp:
                return str(resp["location"])
            raise error_from_response(resp.status, content)

        session_uri = self._retrying("upload start", initiate)
        log.info("YouTube upload session opened for %d bytes", total)
        return session_uri

    def upload_state(self, session_uri: str, total: int) -> int | str:
        """How many bytes the session holds, or the video id when it is complete."""
        http = self._http()
        return self._retrying("upload status", lambda: self._put(http, session_uri, total))

    def upload(
        self,
        video_path: Path,
        session_uri: str,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        on_progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> str:
        """Send `video_path` through the session, from wherever it stands; returns the video id.

        A chunk that meets a 5xx or a broken connection is not simply re-sent: the session is
        asked what it kept, and the upload goes on from there after a backoff.
        """
        if chunk_size <= 0 or chunk_size % UPLOAD_GRANULARITY:
            raise ValueError(f"chunk_size must be a multiple of {UPLOAD_GRANULARITY}")
        path = Path(video_path)
        total = path.stat().st_size
        if total == 0:
            raise ValueError(f"{path.name} is empty")
        http = self._http()
        failures = 0
        ask = True
        state: int | str = 0
        video_id: str | None = None
        with path.open("rb") as fh:
            while video_id is None:
                if cancel is not None and cancel.is_set():
                    raise UploadCancelled
                try:
                    if ask:
                        state = self._put(http, session_uri, total)
                        ask = False
                        if isinstance(state, int) and state:
                            log.info("YouTube upload resumes at %d of %d bytes", state, total)
                    if isinstance(state, str):
                        video_id = state
                        continue
                    if on_progress is not None:
                        on_progress(state, total)
                    offset = state
                    fh.seek(offset)
                    data = fh.read(chunk_size)
                    state = self._put(http, session_uri, total, offset=offset, data=data)
                    if isinstance(state, int) and state <= offset:
                        raise YouTubeTransient(
                            "noProgress", f"the session kept nothing past {offset}"
                        )
                    failures = 0
                except YouTubeTransient as exc:
                    failures += 1
                    if failures > self.max_retries:
                        raise
                    delay = self._backoff(failures)
                    log.warning(
                        "YouTube upload: %s, asking the session in %.1f s (try %d of %d)",
                        exc.reason,
                        delay,
                        failures + 1,
                        self.max_retries + 1,
                    )
                    time.sleep(delay)
                    ask = True
        if on_progress is not None:
            on_progress(total, total)
        log.info("YouTube upload complete: video %s", video_id)
        return video_id

    def _put(
        self,
        http: google_auth_httplib2.AuthorizedHttp,
        session_uri: str,
        total: int,
        *,
        offset: int = 0,
        data: bytes | None = None,
    ) -> int | str:
        """One PUT to the session: a chunk, or with no data the status question.

        Returns the number of bytes the session holds (308), or the video id (200/201).
        """
        if data is None:
            headers = {"Content-Range": f"bytes */{total}", "Content-Length": "0"}
        else:
            end = offset + len(data) - 1
            headers = {
                "Content-Range": f"bytes {offset}-{end}/{total}",
                "Content-Length": str(len(data)),
            }
        with _translated():
            resp, content = http.request(session_uri, "PUT", body=data, headers=headers)
        if resp.status in (200, 201):
            try:
                video = json.loads(content)
                return str(video["id"])
            except (ValueError, KeyError, TypeError):
                raise YouTubeError(
                    "invalidResponse", "the finished upload named no video"
                ) from None
        if resp.status == 308:
            committed = resp.get("range")
            # "bytes=0-N" means N+1 bytes are kept; no Range header means none are.
            return int(committed.rsplit("-", 1)[1]) + 1 if committed else 0
        if resp.status in (404, 410):
            reason, message = _google_error(resp.status, content)
            raise UploadSessionExpired(reason, message or "upload session not found", resp.status)
        raise error_from_response(resp.status, content)

    def set_captions(self, video_id: str, srt_path: Path, language: str, name: str) -> str | None:
        """Add a caption track from an SRT file; returns the caption id.

        None when the video already has this track (``captionExists``): an earlier try made it
        and its answer was lost, so the work is done.
        """
        media = MediaFileUpload(str(srt_path), mimetype="application/octet-stream")
        body = {
            "snippet": {"videoId": video_id, "language": language, "name": name, "isDraft": False}
        }
        request = self._service.captions().insert(part="snippet", body=body, media_body=media)
        try:
            return str(self._execute("captions.insert", request)["id"])
        except YouTubeError as exc:
            if exc.reason != "captionExists":
                raise
            log.info("YouTube captions: video %s already has the %s track", video_id, language)
            return None

    def set_thumbnail(self, video_id: str, image_path: Path) -> None:
        """Set a custom thumbnail (JPEG or PNG, at most 2 MB; the channel must be verified)."""
        path = Path(image_path)
        mimetype = "image/png" if path.suffix.lower() == ".png" else "image/jpeg"
        media = MediaFileUpload(str(path), mimetype=mimetype)
        request = self._service.thumbnails().set(videoId=video_id, media_body=media)
        self._execute("thumbnails.set", request)

    def add_to_playlist(self, video_id: str, playlist_id: str) -> str:
        """Append the video to a playlist, unless it is in it already; returns the item id.

        playlistItems.insert is not idempotent: a try whose answer was lost may have added the
        video, and another insert would list it twice. So every try asks the playlist first.
        """
        body = {
            "snippet": {
                "playlistId": playlist_id,
                "resourceId": {"kind": "youtube#video", "videoId": video_id},
            }
        }
        http = self._http()

        def add() -> str:
            with _translated():
                found = (
                    self._service.playlistItems()
                    .list(part="id", playlistId=playlist_id, videoId=video_id, maxResults=1)
                    .execute(http=http)
                )
                items = found.get("items") or []
                if items:
                    return str(items[0]["id"])
                request = self._service.playlistItems().insert(part="snippet", body=body)
                return str(request.execute(http=http)["id"])

        return self._retrying("playlistItems.insert", add)


def _video_mimetype(path: Path) -> str:
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed if guessed and guessed.startswith("video/") else "application/octet-stream"


class AsyncYouTube:
    """`YouTube` for the event loop: each call runs in a worker thread."""

    def __init__(self, client: YouTube) -> None:
        self.client = client

    @property
    def tokens(self) -> Tokens:
        return self.client.tokens

    async def channel_title(self) -> str:
        return await asyncio.to_thread(self.client.channel_title)

    async def start_upload(self, video_path: Path, metadata: VideoMetadata) -> str:
        return await asyncio.to_thread(self.client.start_upload, video_path, metadata)

    async def upload_state(self, session_uri: str, total: int) -> int | str:
        return await asyncio.to_thread(self.client.upload_state, session_uri, total)

    async def upload(
        self,
        video_path: Path,
        session_uri: str,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        on_progress: AsyncProgressCallback | None = None,
    ) -> str:
        """As `YouTube.upload`; `on_progress` may be a coroutine function and runs in this loop.

        Cancelling the task stops the thread after the chunk in flight; the session keeps what
        it received, and a later `upload` with the same URI continues.
        """
        loop = asyncio.get_running_loop()
        cancel = threading.Event()
        report: ProgressCallback | None = None
        if on_progress is not None:
            callback = on_progress

            async def call(done: int, total: int) -> None:
                result = callback(done, total)
                if inspect.isawaitable(result):
                    await result

            def report(done: int, total: int) -> None:
                asyncio.run_coroutine_threadsafe(call(done, total), loop).result()

        task = asyncio.ensure_future(
            asyncio.to_thread(
                self.client.upload,
                video_path,
                session_uri,
                chunk_size=chunk_size,
                on_progress=report,
                cancel=cancel,
            )
        )
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            cancel.set()
            # Wait for the thread so no chunk is still on the wire when the caller moves on.
            with contextlib.suppress(BaseException):
                await task
            raise

    async def set_captions(
        self, video_id: str, srt_path: Path, language: str, name: str
    ) -> str | None:
        return await asyncio.to_thread(self.client.set_captions, video_id, srt_path, language, name)

    async def set_thumbnail(self, video_id: str, image_path: Path) -> None:
        await asyncio.to_thread(self.client.set_thumbnail, video_id, image_path)

    async def add_to_playlist(self, video_id: str, playlist_id: str) -> str:
        return await asyncio.to_thread(self.client.add_to_playlist, video_id, playlist_id)
