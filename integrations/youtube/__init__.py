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

Where each rule lives: `errors` (what Google's refusals mean, the quota's reset), `session`
(OAuth credentials, building the service, retries), `upload` (metadata, resumable
uploads), `client` (`YouTube` with the channel, captions, thumbnail and playlist calls, and
`AsyncYouTube`).
"""

from integrations.youtube.client import AsyncProgressCallback, AsyncYouTube, YouTube
from integrations.youtube.errors import (
    QUOTA_REASONS,
    TRANSIENT_REASONS,
    QuotaExceeded,
    UploadCancelled,
    UploadSessionExpired,
    YouTubeAuthError,
    YouTubeError,
    YouTubeTransient,
    error_from_response,
    next_quota_reset,
)
from integrations.youtube.session import DEFAULT_API_URL, discovery_document
from integrations.youtube.upload import (
    DEFAULT_CHUNK_SIZE,
    EDUCATION_CATEGORY,
    SNIPPET_KEYS,
    STATUS_KEYS,
    UPLOAD_GRANULARITY,
    ProgressCallback,
    VideoMetadata,
    video_request,
)

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_CHUNK_SIZE",
    "EDUCATION_CATEGORY",
    "QUOTA_REASONS",
    "SNIPPET_KEYS",
    "STATUS_KEYS",
    "TRANSIENT_REASONS",
    "UPLOAD_GRANULARITY",
    "AsyncProgressCallback",
    "AsyncYouTube",
    "ProgressCallback",
    "QuotaExceeded",
    "UploadCancelled",
    "UploadSessionExpired",
    "VideoMetadata",
    "YouTube",
    "YouTubeAuthError",
    "YouTubeError",
    "YouTubeTransient",
    "discovery_document",
    "error_from_response",
    "next_quota_reset",
    "video_request",
]
