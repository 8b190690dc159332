"""Resumable uploads of one video, in two steps so a publish stage never uploads twice.

Rules it keeps:

- `start_upload` opens a session and returns its URI, which the stage stores before any
  byte is sent. `upload` then asks the session how much it already holds (``PUT`` with
  ``Content-Range: bytes */TOTAL``) and sends the rest in chunks, so the same call continues
  an upload a killed worker left behind. A session whose video already exists answers the
  question with the video, and `upload` returns its id without sending anything.
- Every chunk but the last is a multiple of UPLOAD_GRANULARITY (Google's rule). A chunk that
  meets a transient failure is not simply sent again: after a backoff the session is asked
  what it kept. A session that is no longer known raises `UploadSessionExpired` (no video
  was made through it, so a new session cannot duplicate one).
- `upload` stops between chunks when its `cancel` is set.
- `video_request` refuses unknown metadata and a missing title; a video is private, not
  made for kids and in the Education category unless the metadata says otherwise. A
  ``publishAt`` (a scheduled publication) goes only with ``privacyStatus`` private.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypedDict

import google_auth_httplib2
from googleapiclient.http import MediaFileUpload

from integrations.youtube.errors import (
    UploadCancelled,
    UploadSessionExpired,
    YouTubeError,
    YouTubeTransient,
    error_from_response,
    google_error,
    translated,
)
from integrations.youtube.session import Session

log = logging.getLogger(__name__)

# Every chunk but the last must be a multiple of this (Google's resumable-upload rule).
UPLOAD_GRANULARITY = 256 * 1024

DEFAULT_CHUNK_SIZE = 32 * UPLOAD_GRANULARITY

EDUCATION_CATEGORY = "27"

SNIPPET_KEYS = frozenset(
    {"title", "description", "tags", "categoryId", "defaultLanguage", "defaultAudioLanguage"}
)

STATUS_KEYS = frozenset(
    {"privacyStatus", "selfDeclaredMadeForKids", "publishAt", "license", "embeddable"}
)

ProgressCallback = Callable[[int, int], None]


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
    if "publishAt" in status and status["privacyStatus"] != "private":
        raise ValueError("YouTube schedules only private videos (publishAt needs private)")
    params: dict[str, Any] = {}
    if "notifySubscribers" in data:
        params["notifySubscribers"] = bool(data["notifySubscribers"])
    return {"snippet": snippet, "status": status}, params


class Uploads(Session):
    """Resumable uploads; `YouTube` is the client to use."""

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
            with translated():
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
        with translated():
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
            reason, message = google_error(resp.status, content)
            raise UploadSessionExpired(reason, message or "upload session not found", resp.status)
        raise error_from_response(resp.status, content)


def _video_mimetype(path: Path) -> str:
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed if guessed and guessed.startswith("video/") else "application/octet-stream"
