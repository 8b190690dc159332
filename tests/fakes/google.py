"""Google's OAuth 2.0 and the YouTube Data API v3 for tests.

`FakeGoogle` listens on 127.0.0.1 and answers the real google-api-python-client, google-auth
and httpx the way Google does:

- ``POST /token`` — the authorization_code grant (with PKCE: the verifier must hash to the
  challenge the authorization URL carried) and the refresh_token grant; ``invalid_grant``
  for used codes and revoked refresh tokens; ``POST /revoke``.
- ``GET /o/oauth2/v2/auth`` — the consent screen, approving at once. Tests usually call
  `approve` (or `deny`) instead, which plays the person's browser and returns the URL Google
  would redirect it to.
- YouTube: ``channels.list``, ``videos.insert`` through the resumable protocol (``POST
  …/upload/youtube/v3/videos?uploadType=resumable`` → 200 + ``Location``; ``PUT`` chunks with
  ``Content-Range`` → 308 + ``Range`` until the last → 200 with the video; ``bytes */N``
  asks for the state), ``captions.insert`` (multipart; ``captionExists`` for a second track
  of the same language and name), ``captions.update`` (multipart, new text for a track; 404
  ``captionNotFound``), ``captions.list`` (by video), ``thumbnails.set`` (media),
  ``playlistItems.insert`` and ``playlistItems.list`` (by playlist, narrowed by video), each
  checking the bearer token and the scopes the bundled discovery document allows for that
  method. videos.insert checks
  the publish presets as YouTube does: ``status.publishAt`` in the future and only on a
  private video, ``status.license`` youtube or creativeCommon, an assignable
  ``snippet.categoryId``, a boolean ``selfDeclaredMadeForKids``, ``notifySubscribers`` true
  or false. Errors have Google's JSON shape.

Everything that arrives is recorded (`videos`, `sessions`, `chunks`, `captions`,
`thumbnails`, `playlist_items`, `token_grants`), and `fail` / `hold` inject faults::

    async with FakeGoogle() as google:
        tokens = google.issue_tokens()
        google.fail("upload", 503, skip=2)             # the third chunk PUT answers 503
        google.fail("videos.insert", 403, reason="quotaExceeded")
        google.expire_access_tokens()                  # next API call gets 401, then refreshes

Deliberate simplifications: one Google account with one channel (``approve(...,
channel_title=...)`` consents as another account, whose tokens name that channel), no ETags
or paging, videos never go through processing, and captions are stored as sent without being
parsed.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import itertools
import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from aiohttp import web
from googleapiclient import discovery_cache

from tests.fakes.server import FakeServer, listen

YOUTUBE_FORCE_SSL = "https://www.googleapis.com/auth/youtube.force-ssl"
GRANULARITY = 256 * 1024
MAX_THUMBNAIL = 2 * 1024 * 1024

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
REASON_DOMAINS = {
    "quotaExceeded": "youtube.quota",
    "uploadLimitExceeded": "youtube.video",
    "rateLimitExceeded": "usageLimits",
    "userRateLimitExceeded": "usageLimits",
    "dailyLimitExceeded": "usageLimits",
    "videoNotFound": "youtube.video",
    "playlistNotFound": "youtube.playlistItem",
    "captionExists": "youtube.caption",
    "captionNotFound": "youtube.caption",
}
DEFAULT_REASONS = {
    400: "badRequest",
    401: "authError",
    403: "forbidden",
    404: "notFound",
    429: "userRateLimitExceeded",
    500: "backendError",
    503: "backendError",
}
FAULT_KINDS = frozenset(
    {
        "token",
        "channels",
        "videos.insert",
        "upload",
        "status",
        "captions",
        "thumbnails",
        "playlistItems",
    }
)


def _caption_resource(caption: Caption) -> dict[str, Any]:
    return {
        "kind": "youtube#caption",
        "id": caption.id,
        "snippet": {
            "videoId": caption.video_id,
            "language": caption.language,
            "name": caption.name,
            "isDraft": caption.is_draft,
            "trackKind": "standard",
            "status": "serving",
        },
    }


def _method_scopes() -> dict[str, frozenset[str]]:
    """Scopes each YouTube method accepts, from the discovery document Google publishes."""
    doc = json.loads(discovery_cache.get_static_doc("youtube", "v3") or "{}")
    scopes: dict[str, frozenset[str]] = {}
    for resource in doc["resources"].values():
        for method in resource.get("methods", {}).values():
            scopes[method["id"]] = frozenset(method.get("scopes", ()))
    return scopes


def google_error(
    status: int, reason: str | None = None, message: str | None = None
) -> web.Response:
    reason = reason or DEFAULT_REASONS.get(status, "unknown")
    message = message or f"The request failed: {reason}."
    error: dict[str, Any] = {
        "code": status,
        "message": message,
        "errors": [
            {"message": message, "domain": REASON_DOMAINS.get(reason, "global"), "reason": reason}
        ],
    }
    if status in STATUS_NAMES:
        error["status"] = STATUS_NAMES[status]
    headers = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="https://accounts.google.com/"'
    return web.json_response({"error": error}, status=status, headers=headers)


def _oauth_error(status: int, error: str, description: str) -> web.Response:
    return web.json_response({"error": error, "error_description": description}, status=status)


class _Reply(Exception):
    """Stop handling and answer with this response."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


class _Drop(Exception):
    """Close the connection without an answer."""


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    scopes: frozenset[str]
    challenge: str | None
    challenge_method: str | None
    offline: bool
    consent: bool
    used: bool = False
    # The channel of the account that consented; None for the fake's own account.
    channel_title: str | None = None


@dataclass
class AccessToken:
    token: str
    scopes: frozenset[str]
    refresh_token: str | None
    expired: bool = False
    channel_title: str | None = None


@dataclass
class RefreshToken:
    token: str
    scopes: frozenset[str]
    revoked: bool = False
    channel_title: str | None = None


@dataclass
class UploadSession:
    id: str
    uri: str
    body: dict[str, Any]
    query: dict[str, str]
    total: int | None
    mimetype: str
    data: bytearray = field(default_factory=bytearray)
    video_id: str | None = None
    expired: bool = False


@dataclass
class Video:
    id: str
    session_id: str
    resource: dict[str, Any]
    data: bytes

    @property
    def title(self) -> str:
        return str(self.resource["snippet"]["title"])


@dataclass(frozen=True)
class Chunk:
    session_id: str
    start: int
    end: int
    total: int
    status: int


@dataclass(frozen=True)
class Caption:
    id: str
    video_id: str
    language: str
    name: str
    is_draft: bool
    content: bytes


@dataclass(frozen=True)
class Thumbnail:
    video_id: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class PlaylistItem:
    id: str
    playlist_id: str
    video_id: str
    position: int


@dataclass
class Fault:
    kind: str
    status: int
    reason: str | None
    message: str | None
    times: int
    skip: int
    commit: int
    drop: bool
    hold: bool
    # The request is carried out before the failure: an answer lost on its way back.
    after: bool = False


class FakeGoogle(FakeServer):
    def __init__(
        self,
        *,
        client_id: str = "leap-test.apps.googleusercontent.com",
        client_secret: str = "GOCSPX-fake-client-secret-0123456789",
        channel_title: str | None = "Lecture Hall",
        rotate_refresh_tokens: bool = False,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.channel_title = channel_title
        self.channel_id = "UC" + secrets.token_urlsafe(16)
        self.rotate_refresh_tokens = rotate_refresh_tokens
        self.base_url = ""
        self._runner: web.AppRunner | None = None
        self._method_scopes = _method_scopes()
        self._ids = itertools.count(1)

        self.grants: dict[str, Grant] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.granted_scopes: set[str] = set()
        self.token_grants: list[str] = []
        self.revoked: list[str] = []

        self.sessions: dict[str, UploadSession] = {}
        self.videos: dict[str, Video] = {}
        self.chunks: list[Chunk] = []
        self.status_queries: int = 0
        self.captions: list[Caption] = []
        # Ids of the tracks captions.update gave new text, one entry per update.
        self.caption_updates: list[str] = []
        self.thumbnails: list[Thumbnail] = []
        self.playlists: dict[str, str] = {}
        self.playlist_items: list[PlaylistItem] = []
        self.requests: list[tuple[str, str]] = []

        self._faults: list[Fault] = []
        self._held = asyncio.Event()
        self._release = asyncio.Event()

    # -- lifecycle ----------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=1024**3, middlewares=[self._middleware])
        app.router.add_get("/o/oauth2/v2/auth", self._consent)
        app.router.add_post("/token", self._token)
        app.router.add_post("/revoke", self._revoke)
        app.router.add_get("/youtube/v3/channels", self._channels)
        app.router.add_post("/youtube/v3/playlistItems", self._playlist_items)
        app.router.add_get("/youtube/v3/playlistItems", self._playlist_items_list)
        app.router.add_post("/upload/youtube/v3/videos", self._videos_insert)
        app.router.add_put("/upload/youtube/v3/videos", self._upload_put)
        app.router.add_post("/upload/youtube/v3/captions", self._captions_insert)
        app.router.add_put("/upload/youtube/v3/captions", self._captions_update)
        app.router.add_get("/youtube/v3/captions", self._captions_list)
        app.router.add_post("/upload/youtube/v3/thumbnails/set", self._thumbnails_set)
        # A client killed in the middle of a held request must not keep its handler around.
        self._runner, self.base_url = await listen(app, handler_cancellation=True)

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def auth_url(self) -> str:
        return f"{self.base_url}/o/oauth2/v2/auth"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/token"

    @property
    def revoke_url(self) -> str:
        return f"{self.base_url}/revoke"

    @property
    def api_url(self) -> str:
        return self.base_url

    # -- the person and the test's hand -------------------------------------

    def approve(
        self, auth_url: str, *, scopes: set[str] | None = None, channel_title: str | None = None
    ) -> str:
        """Consent as the person would; returns the URL the browser is redirected to.

        `scopes` narrows the grant, as unticking boxes on Google's consent page does.
        `channel_title` consents as another Google account, the one with that channel.
        """
        query = self._auth_query(auth_url)
        requested = frozenset(query["scope"].split())
        granted = requested if scopes is None else frozenset(scopes) & requested
        if query.get("include_granted_scopes") == "true":
            granted |= frozenset(self.granted_scopes)
        method = query.get("code_challenge_method")
        challenge = query.get("code_challenge")
        if challenge and method != "S256":
            raise ValueError(f"unsupported code_challenge_method {method!r}")
        code = "4/0A" + secrets.token_urlsafe(32)
        self.grants[code] = Grant(
            client_id=query["client_id"],
            redirect_uri=query["redirect_uri"],
            scopes=granted,
            challenge=challenge,
            challenge_method=method,
            offline=query.get("access_type") == "offline",
            consent="consent" in query.get("prompt", "").split(),
            channel_title=channel_title,
        )
        params = {"state": query.get("state", ""), "code": code, "scope": " ".join(granted)}
        return _with_query(query["redirect_uri"], params)

    def deny(self, auth_url: str) -> str:
        """Press Cancel on the consent page."""
        query = self._auth_query(auth_url)
        params = {"error": "access_denied", "state": query.get("state", "")}
        return _with_query(query["redirect_uri"], params)

    def _auth_query(self, auth_url: str) -> dict[str, str]:
        parts = urlsplit(auth_url)
        query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        if query.get("client_id") != self.client_id:
            raise ValueError("Error 401: invalid_client (the OAuth client was not found)")
        if query.get("response_type") != "code":
            raise ValueError("Error 400: unsupported response_type")
        if not query.get("redirect_uri") or not query.get("scope"):
            raise ValueError("Error 400: invalid_request (redirect_uri and scope are required)")
        return query

    def issue_tokens(self, scopes: set[str] | None = None) -> dict[str, str]:
        """Tokens as a finished consent would give them, without the browser round."""
        granted = frozenset(scopes if scopes is not None else {YOUTUBE_FORCE_SSL})
        refresh = self._new_refresh_token(granted)
        access = self._new_access_token(granted, refresh)
        return {"access_token": access.token, "refresh_token": refresh.token}

    def expire_access_tokens(self) -> None:
        """Every access token issued so far now gets 401, as after its hour is up."""
        for token in self.access_tokens.values():
            token.expired = True

    def revoke(self, refresh_token: str) -> None:
        """The person removed the app at myaccount.google.com."""
        record = self.refresh_tokens[refresh_token]
        record.revoked = True
        for token in self.access_tokens.values():
            if token.refresh_token == refresh_token:
                token.expired = True

    def add_playlist(self, title: str) -> str:
        playlist_id = "PL" + secrets.token_urlsafe(24)
        self.playlists[playlist_id] = title
        return playlist_id

    def expire_session(self, session_uri: str) -> None:
        self._session_for(session_uri).expired = True

    def session(self, session_uri: str) -> UploadSession:
        return self._session_for(session_uri)

    def _session_for(self, session_uri: str) -> UploadSession:
        upload_id = parse_qs(urlsplit(session_uri).query)["upload_id"][0]
        return self.sessions[upload_id]

    def fail(
        self,
        kind: str,
        status: int = 503,
        *,
        reason: str | None = None,
        message: str | None = None,
        times: int = 1,
        skip: int = 0,
        commit: int = 0,
        drop: bool = False,
        after: bool = False,
    ) -> None:
        """Answer the next `times` requests of `kind` (after letting `skip` through) badly.

        Kinds: token, channels, videos.insert, upload (a chunk PUT), status (a ``bytes */N``
        PUT), captions, thumbnails, playlistItems. For ``upload``, `commit` bytes of the chunk
        are kept before the failure, as when Google stored part of it. `drop` closes the
        connection instead of answering. With `after`, a captions or playlistItems insert is
        carried out first, as when Google made the item and the answer was lost.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        self._faults.append(
            Fault(kind, status, reason, message, times, skip, commit, drop, hold=False, after=after)
        )

    def hold(self, kind: str = "upload", *, skip: int = 0) -> None:
        """Keep the next request of `kind` (after `skip`) waiting, unread, until `release`."""
        self._held = asyncio.Event()
        self._release = asyncio.Event()
        self._faults.append(Fault(kind, 0, None, None, 1, skip, 0, False, hold=True))

    async def wait_held(self) -> None:
        await self._held.wait()

    def release(self) -> None:
        self._release.set()

    def _fault(self, kind: str) -> Fault | None:
        for fault in self._faults:
            if fault.kind != kind:
                continue
            if fault.skip:
                fault.skip -= 1
                return None
            fault.times -= 1
            if fault.times <= 0:
                self._faults.remove(fault)
            return fault
        return None

    async def _apply(self, fault: Fault | None) -> None:
        if fault is None:
            return
        if fault.hold:
            self._held.set()
            await self._release.wait()
            raise _Drop
        if fault.drop:
            raise _Drop
        raise _Reply(google_error(fault.status, fault.reason, fault.message))

    # -- plumbing -----------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        try:
            return await handler(request)
        except _Reply as reply:
            return reply.response
        except _Drop:
            if request.transport is not None:
                request.transport.close()
            raise asyncio.CancelledError from None

    def _new_id(self, prefix: str = "") -> str:
        return prefix + secrets.token_urlsafe(8) + str(next(self._ids))

    def _new_refresh_token(self, scopes: frozenset[str]) -> RefreshToken:
        record = RefreshToken("1//0g" + secrets.token_urlsafe(48), scopes)
        self.refresh_tokens[record.token] = record
        return record

    def _new_access_token(
        self, scopes: frozenset[str], refresh: RefreshToken | None
    ) -> AccessToken:
        record = AccessToken(
            "ya29.a0" + secrets.token_urlsafe(64), scopes, refresh.token if refresh else None
        )
        self.access_tokens[record.token] = record
        return record

    def _authorize(self, request: web.Request, method_id: str, *, required: bool = True) -> None:
        header = request.headers.get("Authorization", "")
        if not header:
            if not required:
                return
            raise _Reply(google_error(401, "required", "Login Required."))
        scheme, _, value = header.partition(" ")
        token = self.access_tokens.get(value) if scheme.lower() == "bearer" else None
        if token is None or token.expired:
            raise _Reply(
                google_error(
                    401,
                    "authError",
                    "Request had invalid authentication credentials. Expected OAuth 2 access "
                    "token, login cookie or other valid authentication credential.",
                )
            )
        if not token.scopes & self._method_scopes[method_id]:
            raise _Reply(
                google_error(
                    403,
                    "insufficientPermissions",
                    "Request had insufficient authentication scopes.",
                )
            )

    # -- OAuth --------------------------------------------------------------

    async def _consent(self, request: web.Request) -> web.Response:
        try:
            location = self.approve(str(request.url))
        except ValueError as exc:
            return web.Response(status=400, text=str(exc))
        raise web.HTTPFound(location)

    async def _token(self, request: web.Request) -> web.Response:
        form = {key: str(value) for key, value in (await request.post()).items()}
        grant_type = form.get("grant_type", "")
        self.token_grants.append(grant_type)
        fault = self._fault("token")
        if fault is not None:
            if fault.drop:
                raise _Drop
            return _oauth_error(fault.status, fault.reason or "server_error", "Injected failure.")
        if (
            form.get("client_id") != self.client_id
            or form.get("client_secret") != self.client_secret
        ):
            return _oauth_error(401, "invalid_client", "Unauthorized")
        if grant_type == "authorization_code":
            return self._code_grant(form)
        if grant_type == "refresh_token":
            return self._refresh_grant(form)
        return _oauth_error(400, "unsupported_grant_type", "Invalid grant_type: " + grant_type)

    def _code_grant(self, form: dict[str, str]) -> web.Response:
        grant = self.grants.get(form.get("code", ""))
        if grant is None or grant.used or grant.client_id != form["client_id"]:
            return _oauth_error(400, "invalid_grant", "Bad Request")
        grant.used = True
        if form.get("redirect_uri") != grant.redirect_uri:
            return _oauth_error(400, "redirect_uri_mismatch", "Bad Request")
        if grant.challenge is not None:
            verifier = form.get("code_verifier")
            if not verifier:
                return _oauth_error(400, "invalid_grant", "Missing code verifier.")
            if not re.fullmatch(r"[A-Za-z0-9\-._~]{43,128}", verifier):
                return _oauth_error(400, "invalid_grant", "Invalid code verifier.")
            digest = hashlib.sha256(verifier.encode()).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant.challenge:
                return _oauth_error(400, "invalid_grant", "Invalid code verifier.")
        # Google sends a refresh token for offline access on the first grant, and again
        # only when the consent screen was shown.
        first = not (grant.scopes <= self.granted_scopes)
        refresh = None
        if grant.offline and (grant.consent or first):
            refresh = self._new_refresh_token(grant.scopes)
            refresh.channel_title = grant.channel_title
        self.granted_scopes |= grant.scopes
        access = self._new_access_token(grant.scopes, refresh)
        access.channel_title = grant.channel_title
        body: dict[str, Any] = {
            "access_token": access.token,
            "expires_in": 3599,
            "scope": " ".join(sorted(grant.scopes)),
            "token_type": "Bearer",
        }
        if refresh is not None:
            body["refresh_token"] = refresh.token
            body["refresh_token_expires_in"] = 604799
        return web.json_response(body)

    def _refresh_grant(self, form: dict[str, str]) -> web.Response:
        record = self.refresh_tokens.get(form.get("refresh_token", ""))
        if record is None or record.revoked:
            return _oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
        if self.rotate_refresh_tokens:
            record.revoked = True
            channel_title = record.channel_title
            record = self._new_refresh_token(record.scopes)
            record.channel_title = channel_title
        access = self._new_access_token(record.scopes, record)
        access.channel_title = record.channel_title
        body: dict[str, Any] = {
            "access_token": access.token,
            "expires_in": 3599,
            "scope": " ".join(sorted(record.scopes)),
            "token_type": "Bearer",
        }
        if self.rotate_refresh_tokens:
            body["refresh_token"] = record.token
        return web.json_response(body)

    async def _revoke(self, request: web.Request) -> web.Response:
        form = await request.post()
        token = str(form.get("token") or request.query.get("token", ""))
        self.revoked.append(token)
        if token in self.refresh_tokens:
            self.revoke(token)
            return web.json_response({})
        if token in self.access_tokens:
            self.access_tokens[token].expired = True
            return web.json_response({})
        return _oauth_error(400, "invalid_token", "Token expired or revoked")

    # -- YouTube ------------------------------------------------------------

    async def _channels(self, request: web.Request) -> web.Response:
        self._authorize(request, "youtube.channels.list")
        await self._apply(self._fault("channels"))
        if "snippet" not in request.query.get("part", "").split(","):
            return google_error(400, "invalidPart", "part must include snippet here")
        if request.query.get("mine") != "true":
            return google_error(400, "missingRequiredParameter", "this fake knows only mine=true")
        items = []
        bearer = request.headers.get("Authorization", "").partition(" ")[2]
        other = self.access_tokens[bearer].channel_title
        if other is not None:
            channel_id = "UC" + hashlib.sha256(other.encode()).hexdigest()[:22]
            items.append(
                {
                    "kind": "youtube#channel",
                    "id": channel_id,
                    "snippet": {"title": other, "description": ""},
                }
            )
        elif self.channel_title is not None:
            items.append(
                {
                    "kind": "youtube#channel",
                    "id": self.channel_id,
                    "snippet": {"title": self.channel_title, "description": ""},
                }
            )
        return web.json_response(
            {
                "kind": "youtube#channelListResponse",
                "pageInfo": {"totalResults": len(items), "resultsPerPage": 5},
                "items": items,
            }
        )

    async def _videos_insert(self, request: web.Request) -> web.Response:
        self._authorize(request, "youtube.videos.insert")
        await self._apply(self._fault("videos.insert"))
        if request.query.get("uploadType") != "resumable":
            return google_error(400, "badRequest", "this fake takes resumable uploads only")
        parts = set(request.query.get("part", "").split(","))
        try:
            body = json.loads(await request.read())
        except ValueError:
            return google_error(400, "parseError", "Parse Error")
        invalid = _invalid_video(body, parts)
        if invalid is not None:
            return google_error(400, *invalid)
        if request.query.get("notifySubscribers", "true") not in ("true", "false"):
            return google_error(400, "invalidValue", "Invalid value for notifySubscribers.")
        length = request.headers.get("X-Upload-Content-Length")
        session_id = self._new_id("ADPyc")
        query = {**request.query, "upload_id": session_id}
        uri = f"{self.base_url}{request.path}?{urlencode(query)}"
        self.sessions[session_id] = UploadSession(
            id=session_id,
            uri=uri,
            body=body,
            query=dict(request.query),
            total=int(length) if length else None,
            mimetype=request.headers.get("X-Upload-Content-Type", "application/octet-stream"),
        )
        return web.Response(
            status=200, headers={"Location": uri, "X-GUploader-UploadID": session_id}
        )

    async def _upload_put(self, request: web.Request) -> web.Response:
        session = self.sessions.get(request.query.get("upload_id", ""))
        if session is None or session.expired:
            return google_error(404, "notFound", "Upload session not found or expired.")
        self._authorize(request, "youtube.videos.insert", required=False)
        match = re.fullmatch(
            r"bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)", request.headers.get("Content-Range", "")
        )
        if match is None:
            if request.headers.get("Content-Range") is None and session.total is None:
                return google_error(400, "badRequest", "Content-Range is required")
            return google_error(400, "badRequest", "Failed to parse Content-Range header.")
        first, last, total_text = match.groups()
        if total_text != "*":
            total = int(total_text)
            if session.total is not None and total != session.total:
                return google_error(400, "badRequest", "Content-Range total does not match")
            session.total = total
        if first is None:
            return await self._upload_status(session)
        return await self._upload_chunk(session, request, int(first), int(last))

    async def _upload_status(self, session: UploadSession) -> web.Response:
        await self._apply(self._fault("status"))
        self.status_queries += 1
        if session.video_id is not None:
            return web.json_response(self.videos[session.video_id].resource)
        return self._incomplete(session)

    async def _upload_chunk(
        self, session: UploadSession, request: web.Request, first: int, last: int
    ) -> web.Response:
        fault = self._fault("upload")
        if fault is not None and fault.hold:
            await self._apply(fault)
        data = await request.read()
        total = session.total
        status = 308
        try:
            if len(data) != last - first + 1:
                raise _Reply(
                    google_error(400, "badRequest", "Content-Range does not match the body")
                )
            if first > len(session.data):
                raise _Reply(
                    google_error(400, "badRequest", "the chunk starts past the bytes held")
                )
            if total is not None and last + 1 < total and (last + 1 - first) % GRANULARITY:
                raise _Reply(google_error(400, "badRequest", "chunks must be multiples of 256 KiB"))
            if fault is not None:
                keep = data[len(session.data) - first : fault.commit]
                session.data += keep
                await self._apply(fault)
            if session.video_id is None:
                session.data += data[len(session.data) - first :]
            if total is not None and len(session.data) >= total:
                if session.video_id is None:
                    self._create_video(session)
                status = 200
                return web.json_response(self.videos[session.video_id].resource)
            return self._incomplete(session)
        except _Reply as reply:
            status = reply.response.status
            raise
        except _Drop:
            status = 0
            raise
        finally:
            self.chunks.append(Chunk(session.id, first, last, total or -1, status))

    def _incomplete(self, session: UploadSession) -> web.Response:
        headers = {"X-GUploader-UploadID": session.id}
        if session.data:
            headers["Range"] = f"bytes=0-{len(session.data) - 1}"
        return web.Response(status=308, headers=headers)

    def _create_video(self, session: UploadSession) -> None:
        video_id = secrets.token_urlsafe(8)[:11]
        snippet = dict(session.body.get("snippet", {}))
        snippet.update(
            {
                "publishedAt": "2026-11-20T10:00:00Z",
                "channelId": self.channel_id,
                "channelTitle": self.channel_title or "",
            }
        )
        status = {
            "uploadStatus": "uploaded",
            "privacyStatus": "private",
            "license": "youtube",
            "embeddable": True,
            "publicStatsViewable": True,
            **session.body.get("status", {}),
        }
        resource = {
            "kind": "youtube#video",
            "etag": secrets.token_hex(8),
            "id": video_id,
            "snippet": snippet,
            "status": status,
        }
        session.video_id = video_id
        self.videos[video_id] = Video(video_id, session.id, resource, bytes(session.data))

    async def _captions_insert(self, request: web.Request) -> web.Response:
        self._authorize(request, "youtube.captions.insert")
        fault = self._fault("captions")
        if fault is None or not fault.after:
            await self._apply(fault)
        if request.query.get("uploadType") != "multipart":
            return google_error(400, "badRequest", "this fake takes multipart captions only")
        parts = _multipart(request.headers.get("Content-Type", ""), await request.read())
        if len(parts) != 2:
            return google_error(400, "badRequest", "expected metadata and media parts")
        try:
            metadata = json.loads(parts[0][1])
        except ValueError:
            return google_error(400, "parseError", "Parse Error")
        snippet = metadata.get("snippet") or {}
        video_id = snippet.get("videoId")
        if video_id not in self.videos:
            return google_error(404, "videoNotFound", "The video could not be found.")
        if not snippet.get("language"):
            return google_error(400, "invalidMetadata", "snippet.language is required")
        if any(
            (c.video_id, c.language, c.name)
            == (video_id, snippet["language"], snippet.get("name", ""))
            for c in self.captions
        ):
            return google_error(409, "captionExists", "The specified caption track already exists.")
        caption = Caption(
            id=self._new_id("AUieDa"),
            video_id=video_id,
            language=snippet["language"],
            name=snippet.get("name", ""),
            is_draft=bool(snippet.get("isDraft", False)),
            content=parts[1][1],
        )
        self.captions.append(caption)
        if fault is not None and fault.after:
            await self._apply(fault)
        return web.json_response(_caption_resource(caption))

    async def _captions_update(self, request: web.Request) -> web.Response:
        """captions.update with new text (multipart): the track keeps its id, language, name."""
        self._authorize(request, "youtube.captions.update")
        await self._apply(self._fault("captions"))
        if request.query.get("uploadType") != "multipart":
            return google_error(400, "badRequest", "this fake takes multipart captions only")
        parts = _multipart(request.headers.get("Content-Type", ""), await request.read())
        if len(parts) != 2:
            return google_error(400, "badRequest", "expected metadata and media parts")
        try:
            metadata = json.loads(parts[0][1])
        except ValueError:
            return google_error(400, "parseError", "Parse Error")
        at = next((i for i, c in enumerate(self.captions) if c.id == metadata.get("id")), None)
        if at is None:
            return google_error(404, "captionNotFound", "The caption track could not be found.")
        snippet = metadata.get("snippet") or {}
        caption = dataclasses.replace(
            self.captions[at],
            is_draft=bool(snippet.get("isDraft", self.captions[at].is_draft)),
            content=parts[1][1],
        )
        self.captions[at] = caption
        self.caption_updates.append(caption.id)
        return web.json_response(_caption_resource(caption))

    async def _captions_list(self, request: web.Request) -> web.Response:
        """captions.list by ``videoId``."""
        self._authorize(request, "youtube.captions.list")
        video_id = request.query.get("videoId", "")
        if video_id not in self.videos:
            return google_error(404, "videoNotFound", "The video could not be found.")
        items = [_caption_resource(c) for c in self.captions if c.video_id == video_id]
        return web.json_response({"kind": "youtube#captionListResponse", "items": items})

    async def _thumbnails_set(self, request: web.Request) -> web.Response:
        self._authorize(request, "youtube.thumbnails.set")
        await self._apply(self._fault("thumbnails"))
        video_id = request.query.get("videoId", "")
        if video_id not in self.videos:
            return google_error(404, "videoNotFound", "The video could not be found.")
        content_type = request.headers.get("Content-Type", "")
        if content_type not in ("image/jpeg", "image/png", "application/octet-stream"):
            return google_error(400, "invalidImage", "The thumbnail image is not supported.")
        content = await request.read()
        if len(content) > MAX_THUMBNAIL:
            return google_error(400, "mediaBodyTooBig", "The thumbnail is larger than 2 MB.")
        self.thumbnails.append(Thumbnail(video_id, content_type, content))
        url = f"https://i.ytimg.com/vi/{video_id}/default.jpg"
        return web.json_response(
            {
                "kind": "youtube#thumbnailSetResponse",
                "items": [{"default": {"url": url, "width": 120, "height": 90}}],
            }
        )

    async def _playlist_items(self, request: web.Request) -> web.Response:
        self._authorize(request, "youtube.playlistItems.insert")
        fault = self._fault("playlistItems")
        if fault is None or not fault.after:
            await self._apply(fault)
        try:
            body = json.loads(await request.read())
        except ValueError:
            return google_error(400, "parseError", "Parse Error")
        snippet = body.get("snippet") or {}
        playlist_id = snippet.get("playlistId")
        resource = snippet.get("resourceId") or {}
        if playlist_id not in self.playlists:
            return google_error(404, "playlistNotFound", "The playlist could not be found.")
        if resource.get("kind") != "youtube#video" or resource.get("videoId") not in self.videos:
            return google_error(404, "videoNotFound", "The video could not be found.")
        position = sum(1 for item in self.playlist_items if item.playlist_id == playlist_id)
        item = PlaylistItem(self._new_id("UEx"), playlist_id, resource["videoId"], position)
        self.playlist_items.append(item)
        if fault is not None and fault.after:
            await self._apply(fault)
        return web.json_response(_playlist_item_json(item))

    async def _playlist_items_list(self, request: web.Request) -> web.Response:
        """playlistItems.list by ``playlistId`` (optionally narrowed by ``videoId``) or ``id``."""
        self._authorize(request, "youtube.playlistItems.list")
        query = request.query
        if not query.get("part"):
            return google_error(400, "missingRequiredParameter", "No filter selected.")
        if "playlistId" in query:
            if query["playlistId"] not in self.playlists:
                return google_error(404, "playlistNotFound", "The playlist could not be found.")
            found = [i for i in self.playlist_items if i.playlist_id == query["playlistId"]]
            if "videoId" in query:
                found = [i for i in found if i.video_id == query["videoId"]]
        elif "id" in query:
            ids = set(query["id"].split(","))
            found = [i for i in self.playlist_items if i.id in ids]
        else:
            return google_error(400, "missingRequiredParameter", "No filter selected.")
        limit = int(query.get("maxResults") or 5)
        return web.json_response(
            {
                "kind": "youtube#playlistItemListResponse",
                "pageInfo": {"totalResults": len(found), "resultsPerPage": limit},
                "items": [_playlist_item_json(i) for i in found[:limit]],
            }
        )


def _playlist_item_json(item: PlaylistItem) -> dict[str, Any]:
    return {
        "kind": "youtube#playlistItem",
        "id": item.id,
        "snippet": {
            "playlistId": item.playlist_id,
            "position": item.position,
            "resourceId": {"kind": "youtube#video", "videoId": item.video_id},
        },
    }


def _with_query(url: str, params: dict[str, str]) -> str:
    separator = "&" if urlsplit(url).query else "?"
    return f"{url}{separator}{urlencode(params)}"


def _invalid_video(body: Any, parts: set[str]) -> tuple[str, str] | None:
    """YouTube's own checks on videos.insert metadata: (reason, message) when it refuses."""
    if not isinstance(body, dict) or "snippet" not in parts or "snippet" not in body:
        return "invalidVideoMetadata", "The request metadata is invalid."
    snippet = body["snippet"]
    title = snippet.get("title")
    if (
        not isinstance(title, str)
        or not title.strip()
        or len(title) > 100
        or re.search("[<>]", title)
    ):
        return "invalidTitle", "The request metadata specifies an invalid video title."
    description = snippet.get("description", "")
    if len(description.encode()) > 5000 or re.search("[<>]", description):
        return "invalidDescription", "The request metadata specifies an invalid video description."
    tags = snippet.get("tags", [])
    if sum(len(tag) + (2 if " " in tag else 0) for tag in tags) + max(len(tags) - 1, 0) > 500:
        return "invalidTags", "The request metadata specifies invalid video keywords."
    category = snippet.get("categoryId")
    if category is not None and not str(category).isdigit():
        return "invalidCategoryId", "The snippet.categoryId property specifies an invalid category."
    status = body.get("status", {})
    if "status" in body and "status" not in parts:
        return "invalidVideoMetadata", "status is sent but not named in part"
    if status.get("privacyStatus", "private") not in ("private", "public", "unlisted"):
        return "invalidVideoMetadata", "The request metadata is invalid."
    return _invalid_status(snippet, status)


# Categories a video may be put in (videoCategories.list, assignable: true, region US).
ASSIGNABLE_CATEGORIES = frozenset(
    {"1", "2", "10", "15", "17", "19", "20", "22", "23", "24", "25", "26", "27", "28", "29"}
)


def _invalid_status(snippet: dict[str, Any], status: dict[str, Any]) -> tuple[str, str] | None:
    """The publish presets: scheduled time, licence, category, made for kids."""
    category = snippet.get("categoryId")
    if category is not None and str(category) not in ASSIGNABLE_CATEGORIES:
        return "invalidCategoryId", "The snippet.categoryId property specifies an invalid category."
    if status.get("license", "youtube") not in ("youtube", "creativeCommon"):
        return "invalidVideoMetadata", "The status.license property is invalid."
    if not isinstance(status.get("selfDeclaredMadeForKids", False), bool):
        return "invalidVideoMetadata", "The status.selfDeclaredMadeForKids property is invalid."
    publish_at = status.get("publishAt")
    if publish_at is not None:
        try:
            when = datetime.fromisoformat(str(publish_at).replace("Z", "+00:00"))
        except ValueError:
            return (
                "invalidPublishAt",
                "The request metadata specifies an invalid scheduled publishing time.",
            )
        if when.tzinfo is None or when <= datetime.now(UTC):
            return (
                "invalidPublishAt",
                "The request metadata specifies an invalid scheduled publishing time.",
            )
        if status.get("privacyStatus", "private") != "private":
            # YouTube schedules only private videos.
            return "invalidVideoMetadata", "publishAt can only be set for a private video."
    return None


def _multipart(content_type: str, body: bytes) -> list[tuple[str, bytes]]:
    """(content type, payload) of each part of a multipart/related body."""
    header = Message()
    header["Content-Type"] = content_type
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not content_type.startswith("multipart/related"):
        return []
    parts: list[tuple[str, bytes]] = []
    delimiter = b"--" + boundary.encode()
    for piece in body.split(delimiter)[1:]:
        if piece.startswith(b"--"):
            break
        piece = piece.removeprefix(b"\r\n").removeprefix(b"\n")
        head, sep, payload = piece.partition(b"\r\n\r\n")
        if not sep:
            head, sep, payload = piece.partition(b"\n\n")
        # The line break before the next delimiter belongs to the delimiter.
        payload = payload.removesuffix(b"\n").removesuffix(b"\r")
        part_type = "application/octet-stream"
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-type":
                part_type = value.strip()
        parts.append((part_type, payload))
    return parts
