"""VK's API, its video upload server and VK ID sign-in, as one server for tests.

`FakeVk` listens on 127.0.0.1 and speaks the wire protocol the real clients use:

* ``GET|POST /method/<name>`` with ``access_token`` and ``v`` (query or form), answering
  ``{"response": ...}`` or ``{"error": {"error_code", "error_msg", "request_params"}}``.
  Methods: ``video.save`` (answers an ``upload_url`` on this server), ``video.get``,
  ``groups.getById``, ``users.get`` (the token's person, or the ids asked for).
  ``video.save`` keeps ``is_private`` (0 or 1, else error 100); ``video.get`` shows a private
  video only to its owner (the person, or the community's admins) or by
  ``{owner}_{id}_{access_key}``, as VK does.
* ``POST /upload.do?ticket=...``: the upload server, multipart field ``video_file``.
* ``GET /authorize`` and ``POST /oauth2/auth``: VK ID's consent page and token endpoint
  (authorization code with PKCE S256, refresh with rotation, device_id binding).

Tests play the people and the faults::

    async with FakeVk(redirect_uris={"https://bot.example/vk"}) as vk:
        ann = vk.add_user(7, "Ann")
        vk.add_group(42, "Lectures", admins={7})
        token = vk.user_token(7)                  # or sign in: approve() the authorize URL
        landing = await vk.approve(authorize_url, user_id=7)   # the browser's redirect target
        vk.fail("video.save", code=6, times=2)    # VK error 6 twice, then normal answers
        vk.fail_upload(times=1, status=500)
        vk.token_delay = 0.5                      # VK ID answers token requests slowly
        ...
        vk.videos[0].title, vk.videos[0].data     # what reached VK

Deliberate simplifications: no rate limit of its own (inject error 6 instead), uploads are
stored whole in memory, and video processing finishes the moment the bytes arrive.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from tests.fakes.server import FakeServer, listen

DEFAULT_CLIENT_ID = "51900001"
ACCESS_TOKEN_TTL = 3600
CODE_TTL = 600
# VK answers groups.getById with {"groups": [...]} from this version on.
GROUPS_WRAPPED_SINCE = (5, 194)

ERROR_MESSAGES = {
    1: "Unknown error occurred",
    3: "Unknown method passed",
    5: "User authorization failed: invalid access_token (4).",
    6: "Too many requests per second",
    8: "Invalid request: v is required",
    9: "Flood control",
    10: "Internal server error",
    14: "Captcha needed",
    15: "Access denied",
    27: "Group authorization failed: method is unavailable with group auth.",
    100: "One of the parameters specified was missing or invalid",
}

_VERIFIER = re.compile(r"[A-Za-z0-9_\-]{43,128}")


class VkApiError(Exception):
    """Raised inside method handlers; becomes VK's error answer."""

    def __init__(self, code: int, message: str | None = None) -> None:
        super().__init__(message or ERROR_MESSAGES.get(code, "Unknown error occurred"))
        self.code = code
        self.message = str(self)


class OAuthFailure(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


@dataclass
class FakeUser:
    id: int
    first_name: str
    last_name: str = ""


@dataclass
class FakeGroup:
    id: int
    name: str
    screen_name: str
    admins: set[int] = field(default_factory=set)


@dataclass
class Grant:
    """Who an access token speaks for."""

    kind: str  # "user" or "group"
    subject: int
    scope: tuple[str, ...] = ()
    expires_at: float | None = None
    revoked: bool = False


@dataclass
class SavedVideo:
    """A video made by video.save, with what its upload delivered."""

    owner_id: int
    video_id: int
    title: str
    description: str
    group_id: int | None
    album_id: int | None
    privacy_view: str | None
    wallpost: bool
    is_private: bool
    access_key: str
    ticket: str = field(repr=False)
    # What VK's player address carries for embedding the video elsewhere.
    embed_hash: str = field(default_factory=lambda: secrets.token_hex(8))
    data: bytes | None = field(default=None, repr=False)
    filename: str | None = None
    uploads: int = 0


@dataclass
class MethodCall:
    """One API call as the server saw it; the token is left out on purpose."""

    method: str
    params: dict[str, str]
    caller: tuple[str, int] | None
    error: int | None = None


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    challenge: str
    user_id: int
    device_id: str
    scope: tuple[str, ...]
    expires_at: float
    used: bool = False


@dataclass
class _Refresh:
    user_id: int
    device_id: str
    scope: tuple[str, ...]
    used: bool = False


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _version(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    try:
        return int(major), int(minor or 0)
    except ValueError:
        return 0, 0


class FakeVk(FakeServer):
    def __init__(
        self, *, client_id: str = DEFAULT_CLIENT_ID, redirect_uris: Iterable[str] = ()
    ) -> None:
        self.client_id = client_id
        self.redirect_uris: set[str] = set(redirect_uris)
        self.base_url = ""

        self.users: dict[int, FakeUser] = {}
        self.groups: dict[int, FakeGroup] = {}
        self.videos: list[SavedVideo] = []
        self.calls: list[MethodCall] = []
        self.token_requests: list[dict[str, str]] = []
        # Seconds VK ID takes to answer a token request, read before it looks at the form: a
        # slow answer lets two clients hold the same refresh token at once, as they would.
        self.token_delay = 0.0

        self._grants: dict[str, Grant] = {}
        self._codes: dict[str, _Code] = {}
        self._refresh: dict[str, _Refresh] = {}
        self._tickets: dict[str, SavedVideo] = {}
        self._faults: dict[str, list[VkApiError]] = {}
        self._upload_faults: list[int] = []
        self._video_ids = itertools.count(456239017)
        self._runner: web.AppRunner | None = None
        self._methods: dict[str, Callable[[Grant, dict[str, str]], Awaitable[Any]]] = {
            "video.save": self._video_save,
            "video.get": self._video_get,
            "groups.getById": self._groups_get_by_id,
            "users.get": self._users_get,
        }

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=1 << 30)
        app.router.add_route("GET", "/method/{name}", self._handle_method)
        app.router.add_route("POST", "/method/{name}", self._handle_method)
        app.router.add_post("/upload.do", self._handle_upload)
        app.router.add_get("/authorize", self._handle_authorize)
        app.router.add_post("/oauth2/auth", self._handle_token)
        self._runner, self.base_url = await listen(app)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def api_url(self) -> str:
        """What VK_API_URL points at."""
        return f"{self.base_url}/method"

    @property
    def oauth_url(self) -> str:
        """What VK_OAUTH_URL points at."""
        return self.base_url

    # -- the world ------------------------------------------------------------------------

    def add_user(self, user_id: int, first_name: str = "Ann", last_name: str = "") -> FakeUser:
        user = FakeUser(user_id, first_name, last_name)
        self.users[user_id] = user
        return user

    def add_group(
        self, group_id: int, name: str, *, admins: Iterable[int] = (), screen_name: str = ""
    ) -> FakeGroup:
        group = FakeGroup(group_id, name, screen_name or f"club{group_id}", set(admins))
        self.groups[group_id] = group
        return group

    def user_token(
        self, user_id: int, scope: Iterable[str] = ("video", "groups"), ttl: float | None = None
    ) -> str:
        """An access token for a known person, as if they had signed in earlier."""
        if user_id not in self.users:
            self.add_user(user_id)
        token = "vk1.a." + secrets.token_urlsafe(48)
        expires = time.time() + ttl if ttl is not None else None
        self._grants[token] = Grant("user", user_id, tuple(scope), expires)
        return token

    def community_token(self, group_id: int) -> str:
        """A community's own access token (made in its settings, pasted by an admin)."""
        token = "vk1.a." + secrets.token_urlsafe(60)
        self._grants[token] = Grant("group", group_id, ("manage", "photos", "docs"))
        return token

    def revoke(self, token: str) -> None:
        self._grants[token].revoked = True

    def expire(self, token: str) -> None:
        self._grants[token].expires_at = time.time() - 1

    def owner_of(self, token: str) -> tuple[str, int] | None:
        grant = self._grants.get(token)
        return (grant.kind, grant.subject) if grant else None

    # -- faults -----------------------------------------------------------------------------

    def fail(self, method: str, code: int, *, times: int = 1, message: str | None = None) -> None:
        """The next `times` calls of `method` answer VK error `code`."""
        self._faults.setdefault(method, []).extend(VkApiError(code, message) for _ in range(times))

    def fail_upload(self, *, times: int = 1, status: int = 500) -> None:
        """The next `times` uploads are read in full and answered with HTTP `status`."""
        self._upload_faults.extend([status] * times)

    # -- the person's browser ---------------------------------------------------------------

    async def approve(self, authorize_url: str, *, user_id: int, deny: bool = False) -> str:
        """Open the consent page as `user_id`, press Allow (or Deny); the redirect address."""
        headers = {"X-Fake-User": str(user_id)}
        if deny:
            headers["X-Fake-Decision"] = "deny"
        async with aiohttp.ClientSession() as http:
            async with http.get(authorize_url, headers=headers, allow_redirects=False) as resp:
                body = await resp.text()
                if resp.status != 302:
                    raise AssertionError(f"VK ID refused the sign-in page: {resp.status} {body}")
                return resp.headers["Location"]

    # -- API ---------------------------------------------------------------------------------

    async def _handle_method(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        params = {key: str(value) for key, value in request.query.items()}
        if request.method == "POST":
            form = await request.post()
            params.update({key: str(value) for key, value in form.items()})
        token = params.pop("access_token", "")
        grant = self._grants.get(token) if token else None
        call = MethodCall(name, dict(params), (grant.kind, grant.subject) if grant else None)
        self.calls.append(call)
        try:
            if not params.get("v"):
                raise VkApiError(8)
            if not token:
                raise VkApiError(5, "User authorization failed: no access_token passed.")
            if grant is None or grant.revoked:
                raise VkApiError(5)
            if grant.expires_at is not None and grant.expires_at < time.time():
                raise VkApiError(5, "User authorization failed: access_token has expired.")
            faults = self._faults.get(name)
            if faults:
                raise faults.pop(0)
            handler = self._methods.get(name)
            if handler is None:
                raise VkApiError(3)
            response = await handler(grant, params)
        except VkApiError as exc:
            call.error = exc.code
            request_params = [
                {"key": "method", "value": name},
                {"key": "oauth", "value": "1"},
                *({"key": key, "value": value} for key, value in params.items()),
            ]
            return web.json_response(
                {
                    "error": {
                        "error_code": exc.code,
                        "error_msg": exc.message,
                        "request_params": request_params,
                    }
                }
            )
        return web.json_response({"response": response})

    async def _video_save(self, grant: Grant, params: dict[str, str]) -> dict[str, Any]:
        if grant.kind != "user":
            raise VkApiError(27)
        if "video" not in grant.scope:
            raise VkApiError(15, "Access denied: no access to call this method")
        group_id = _optional_int(params.get("group_id"), "group_id")
        album_id = _optional_int(params.get("album_id"), "album_id")
        if group_id is not None:
            group = self.groups.get(group_id)
            if group is None:
                raise VkApiError(100, f"{ERROR_MESSAGES[100]}: group_id is invalid")
            if grant.subject not in group.admins:
                raise VkApiError(15, "Access denied: you can't add videos to this community")
        owner_id = -group_id if group_id is not None else grant.subject
        video = SavedVideo(
            owner_id=owner_id,
            video_id=next(self._video_ids),
            title=params.get("name", ""),
            description=params.get("description", ""),
            group_id=group_id,
            album_id=album_id,
            privacy_view=params.get("privacy_view"),
            wallpost=params.get("wallpost") == "1",
            is_private=_flag(params.get("is_private"), "is_private"),
            access_key=secrets.token_hex(9),
            ticket=secrets.token_urlsafe(24),
        )
        self.videos.append(video)
        self._tickets[video.ticket] = video
        return {
            "access_key": video.access_key,
            "description": video.description,
            "owner_id": video.owner_id,
            "title": video.title,
            "upload_url": f"{self.base_url}/upload.do?{urlencode({'ticket': video.ticket})}",
            "video_id": video.video_id,
        }

    async def _video_get(self, grant: Grant, params: dict[str, str]) -> dict[str, Any]:
        wanted = {item for item in params.get("videos", "").split(",") if item}
        items = []
        for video in self.videos:
            plain = f"{video.owner_id}_{video.video_id}"
            keyed = f"{plain}_{video.access_key}"
            if plain not in wanted and keyed not in wanted:
                continue
            if video.is_private and keyed not in wanted and not self._owns(grant, video):
                continue
            item: dict[str, Any] = {
                "id": video.video_id,
                "owner_id": video.owner_id,
                "title": video.title,
                "description": video.description,
                "duration": 0,
                "player": (
                    f"https://vk.com/video_ext.php?oid={video.owner_id}&id={video.video_id}"
                    f"&hash={video.embed_hash}"
                ),
            }
            if video.data is None:
                item["processing"] = 1
            items.append(item)
        return {"count": len(items), "items": items}

    def _owns(self, grant: Grant, video: SavedVideo) -> bool:
        if video.group_id is None:
            return grant.kind == "user" and grant.subject == video.owner_id
        if grant.kind == "group":
            return grant.subject == video.group_id
        group = self.groups.get(video.group_id)
        return group is not None and grant.subject in group.admins

    async def _groups_get_by_id(self, grant: Grant, params: dict[str, str]) -> Any:
        raw = params.get("group_ids") or params.get("group_id") or ""
        if raw:
            ids = [self._group_id(item) for item in raw.split(",") if item.strip()]
        elif grant.kind == "group":
            ids = [grant.subject]
        else:
            raise VkApiError(100, f"{ERROR_MESSAGES[100]}: group_ids is undefined")
        groups = []
        for group_id in ids:
            group = self.groups[group_id]
            item: dict[str, Any] = {
                "id": group.id,
                "name": group.name,
                "screen_name": group.screen_name,
                "is_closed": 0,
                "type": "group",
            }
            if grant.kind == "user":
                item["is_admin"] = int(grant.subject in group.admins)
            groups.append(item)
        if _version(params.get("v", "")) >= GROUPS_WRAPPED_SINCE:
            return {"groups": groups, "profiles": []}
        return groups

    async def _users_get(self, grant: Grant, params: dict[str, str]) -> list[dict[str, Any]]:
        raw = params.get("user_ids", "")
        if raw:
            ids = [_optional_int(item, "user_ids") for item in raw.split(",") if item.strip()]
        elif grant.kind == "user":
            ids = [grant.subject]
        else:
            # A community's token speaks for no person.
            return []
        return [
            {
                "id": user.id,
                "first_name": user.first_name,
                "last_name": user.last_name,
                "can_access_closed": True,
                "is_closed": False,
            }
            for user in (self.users.get(user_id or 0) for user_id in ids)
            if user is not None
        ]

    def _group_id(self, text: str) -> int:
        text = text.strip()
        for group in self.groups.values():
            if text in (str(group.id), group.screen_name):
                return group.id
        raise VkApiError(100, f"{ERROR_MESSAGES[100]}: group_ids is invalid")

    # -- upload server -------------------------------------------------------------------------

    async def _handle_upload(self, request: web.Request) -> web.Response:
        video = self._tickets.get(request.query.get("ticket", ""))
        if not request.content_type.startswith("multipart/"):
            await request.read()
            return web.json_response({"error": "multipart/form-data expected"}, status=400)
        data: bytes | None = None
        filename: str | None = None
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, aiohttp.BodyPartReader):
                continue
            content = await part.read()
            if part.name == "video_file":
                data, filename = bytes(content), part.filename
        if self._upload_faults:
            status = self._upload_faults.pop(0)
            return web.Response(status=status, text="<html>upload server error</html>")
        if video is None:
            return web.json_response({"error": "invalid upload ticket"}, status=403)
        if data is None:
            return web.json_response({"error": "no video_file in the request"}, status=400)
        video.data = data
        video.filename = filename
        video.uploads += 1
        return web.json_response(
            {
                "video_hash": hashlib.md5(data).hexdigest(),
                "size": len(data),
                "direct_link": f"{self.base_url}/video/{video.owner_id}_{video.video_id}.mp4",
                "owner_id": video.owner_id,
                "video_id": video.video_id,
            }
        )

    # -- VK ID -----------------------------------------------------------------------------

    async def _handle_authorize(self, request: web.Request) -> web.Response:
        query = request.query
        problems = []
        if query.get("response_type") != "code":
            problems.append("response_type must be code")
        if query.get("client_id") != self.client_id:
            problems.append("unknown client_id")
        redirect_uri = query.get("redirect_uri", "")
        if redirect_uri not in self.redirect_uris:
            problems.append("redirect_uri is not a trusted address of the app")
        state = query.get("state", "")
        if len(state) < 32:
            problems.append("state must be at least 32 characters")
        challenge = query.get("code_challenge", "")
        if not challenge or query.get("code_challenge_method", "").lower() != "s256":
            problems.append("PKCE with code_challenge_method=s256 is required")
        if "code_verifier" in query:
            problems.append("code_verifier must not be sent to the browser")
        try:
            user = self.users[int(request.headers.get("X-Fake-User", ""))]
        except (KeyError, ValueError):
            problems.append("nobody is signed in to VK in this browser")
        if problems:
            return web.Response(status=400, text="; ".join(problems))
        separator = "&" if "?" in redirect_uri else "?"
        if request.headers.get("X-Fake-Decision") == "deny":
            refusal = {
                "error": "access_denied",
                "error_description": "User denied access",
                "state": state,
            }
            raise web.HTTPFound(redirect_uri + separator + urlencode(refusal))
        code = "vk2." + secrets.token_urlsafe(40)
        device_id = secrets.token_urlsafe(32)
        self._codes[code] = _Code(
            client_id=self.client_id,
            redirect_uri=redirect_uri,
            challenge=challenge,
            user_id=user.id,
            device_id=device_id,
            scope=tuple(query.get("scope", "").split()),
            expires_at=time.time() + CODE_TTL,
        )
        landing = {
            "code": code,
            "expires_in": CODE_TTL,
            "device_id": device_id,
            "state": state,
            "type": "code_v2",
        }
        raise web.HTTPFound(redirect_uri + separator + urlencode(landing))

    async def _handle_token(self, request: web.Request) -> web.Response:
        form = {key: str(value) for key, value in (await request.post()).items()}
        self.token_requests.append(form)
        if self.token_delay:
            await asyncio.sleep(self.token_delay)
        try:
            if form.get("client_id") != self.client_id:
                raise OAuthFailure("invalid_client", "unknown client_id", 401)
            grant_type = form.get("grant_type")
            if grant_type == "authorization_code":
                user_id, device_id, scope = self._redeem_code(form)
            elif grant_type == "refresh_token":
                user_id, device_id, scope = self._redeem_refresh(form)
            else:
                raise OAuthFailure("unsupported_grant_type", f"grant_type {grant_type!r}")
        except OAuthFailure as exc:
            body = {"error": exc.error, "error_description": exc.description}
            if "state" in form:
                body["state"] = form["state"]
            return web.json_response(body, status=exc.status)
        access = self.user_token(user_id, scope, ttl=ACCESS_TOKEN_TTL)
        refresh = "vk1.a." + secrets.token_urlsafe(64)
        self._refresh[refresh] = _Refresh(user_id, device_id, scope)
        return web.json_response(
            {
                "refresh_token": refresh,
                "access_token": access,
                "id_token": "eyJ." + secrets.token_urlsafe(16),
                "token_type": "Bearer",
                "expires_in": ACCESS_TOKEN_TTL,
                "user_id": user_id,
                "state": form.get("state", ""),
                "scope": " ".join(scope),
            }
        )

    def _redeem_code(self, form: dict[str, str]) -> tuple[int, str, tuple[str, ...]]:
        for name in ("code", "code_verifier", "device_id", "redirect_uri"):
            if not form.get(name):
                raise OAuthFailure("invalid_request", f"{name} is missing")
        code = self._codes.get(form["code"])
        if code is None or code.used or code.expires_at < time.time():
            raise OAuthFailure("invalid_grant", "code is invalid or expired")
        if form["redirect_uri"] != code.redirect_uri:
            raise OAuthFailure("invalid_grant", "redirect_uri does not match")
        if form["device_id"] != code.device_id:
            raise OAuthFailure("invalid_grant", "device_id does not match")
        verifier = form["code_verifier"]
        if not _VERIFIER.fullmatch(verifier) or _challenge(verifier) != code.challenge:
            raise OAuthFailure("invalid_grant", "code_verifier is invalid")
        code.used = True
        return code.user_id, code.device_id, code.scope

    def _redeem_refresh(self, form: dict[str, str]) -> tuple[int, str, tuple[str, ...]]:
        for name in ("refresh_token", "device_id"):
            if not form.get(name):
                raise OAuthFailure("invalid_request", f"{name} is missing")
        grant = self._refresh.get(form["refresh_token"])
        if grant is None or grant.used:
            raise OAuthFailure("invalid_grant", "refresh_token is invalid or already used")
        if form["device_id"] != grant.device_id:
            raise OAuthFailure("invalid_grant", "device_id does not match")
        grant.used = True
        scope = tuple(form["scope"].split()) if form.get("scope") else grant.scope
        return grant.user_id, grant.device_id, scope


def _flag(value: str | None, name: str) -> bool:
    """A checkbox parameter as VK takes it: absent, 0 or 1."""
    if value in (None, "0", "1"):
        return value == "1"
    raise VkApiError(100, f"{ERROR_MESSAGES[100]}: {name} should be 0 or 1")


def _optional_int(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise VkApiError(100, f"{ERROR_MESSAGES[100]}: {name} not integer") from None
