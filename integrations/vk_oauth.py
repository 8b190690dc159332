"""Connecting VK accounts: VK ID (OAuth 2.1, authorization code with PKCE) and pasted tokens.

The flow, as the bot drives it::

    verifier, challenge = new_pkce()
    state = new_state()                      # kept with the verifier until the person returns
    url = authorization_url(client_id, redirect_uri, state, challenge, oauth_url=...)
    # the person opens `url`, approves, and lands on redirect_uri (our web server, or they
    # paste the address they landed on into the chat)
    landing = parse_redirect(address, expected_state=state)
    tokens = await exchange_code(landing.code, verifier, landing.device_id, redirect_uri,
                                 client_id=client_id, oauth_url=..., state=state)
    name = await person_name(tokens.access_token, api_url=...)   # for the person to confirm
    # an hour later
    tokens = await refresh(tokens.refresh_token, tokens.device_id, client_id=..., oauth_url=...)

VK ID access tokens live one hour; every refresh returns a new refresh token and the old one
stops working, so the new pair must be stored before it is used. A refresh token is bound to
the `device_id` VK handed out with the code, which is why `VkTokens` carries it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import httpx

from integrations.vk import (
    DEFAULT_API_URL,
    DEFAULT_API_VERSION,
    VkAuthError,
    VkError,
    VkVideo,
)

DEFAULT_OAUTH_URL = "https://id.vk.ru"
# VK ID always issues a refresh token, so there is no "offline" right to ask for: "video"
# covers video.save, "groups" lets a person upload into communities they manage.
DEFAULT_SCOPES: tuple[str, ...] = ("video", "groups")

OAUTH_ERROR = -2
TOKEN_CHECK_FAILED = 0
_GRANT_REJECTED = frozenset({"invalid_grant", "invalid_token"})
_TRANSIENT = frozenset({"temporarily_unavailable", "server_error", "slow_down"})


class VkOAuthError(VkError):
    """VK ID refused a request; `error` is the OAuth error name (``invalid_grant``, ...)."""

    def __init__(self, error: str, description: str = "", *, retryable: bool = False) -> None:
        message = f"VK ID: {error}" + (f" ({description})" if description else "")
        super().__init__(OAUTH_ERROR, message, retryable=retryable)
        self.error = error
        self.description = description


class VkGrantRejected(VkOAuthError, VkAuthError):
    """The code or refresh token is spent, expired or revoked: the person must connect again."""


@dataclass(frozen=True)
class VkTokens:
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: datetime
    user_id: int
    device_id: str
    scope: tuple[str, ...] = ()

    def expires_within(self, seconds: float, *, now: datetime | None = None) -> bool:
        """True when the access token is gone or will be within `seconds` (refresh first)."""
        return self.expires_at - timedelta(seconds=seconds) <= (now or datetime.now(UTC))


@dataclass(frozen=True)
class VkRedirect:
    """What VK ID put on the redirect address after the person approved."""

    code: str = field(repr=False)
    state: str
    device_id: str


def new_pkce() -> tuple[str, str]:
    """A fresh (code_verifier, code_challenge) pair; the verifier never leaves our side."""
    verifier = secrets.token_urlsafe(64)  # 86 characters of [A-Za-z0-9_-], as VK ID requires
    return verifier, code_challenge(verifier)


def code_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def new_state() -> str:
    # VK ID wants at least 32 characters.
    return secrets.token_urlsafe(32)


def authorization_url(
    client_id: str | int,
    redirect_uri: str,
    state: str,
    code_challenge: str,
    *,
    oauth_url: str = DEFAULT_OAUTH_URL,
    scopes: Sequence[str] = DEFAULT_SCOPES,
    lang_id: int | None = None,
    prompt: str | None = None,
) -> str:
    """The address of VK ID's consent page for the person to open."""
    query: dict[str, str] = {
        "response_type": "code",
        "client_id": str(client_id),
        "redirect_uri": redirect_uri,
        "state": state,
        "code_challenge": code_challenge,
        "code_challenge_method": "s256",
        "scope": " ".join(scopes),
    }
    if lang_id is not None:
        query["lang_id"] = str(lang_id)
    if prompt:
        query["prompt"] = prompt
    return f"{oauth_url.rstrip('/')}/authorize?{urlencode(query, quote_via=quote)}"


def parse_redirect(url: str, *, expected_state: str | None = None) -> VkRedirect:
    """Read the code, state and device_id from the address VK ID sent the person to.

    Accepts the whole address as pasted (query or fragment), and the SDK's variant that packs
    the values into a JSON ``payload`` parameter. A refusal on the consent page arrives as
    ``error=...`` and is raised as `VkOAuthError`.
    """
    text = url.strip()
    parts = urlsplit(text)
    if parts.scheme and parts.netloc:
        chunks = [parts.fragment, parts.query]
    else:
        # A bare query string, with or without its "?" (some people copy only that part).
        chunks = [text.split("?", 1)[-1]]
    params: dict[str, str] = {}
    for chunk in chunks:
        params.update(parse_qsl(chunk, keep_blank_values=True))
    if "payload" in params:
        try:
            payload = json.loads(params["payload"])
        except ValueError:
            payload = None
        if isinstance(payload, dict):
            params.update({key: str(value) for key, value in payload.items()})
    if params.get("error"):
        raise VkOAuthError(params["error"], params.get("error_description", ""))
    missing = [name for name in ("code", "state", "device_id") if not params.get(name)]
    if missing:
        raise VkOAuthError("invalid_request", "the address has no " + ", ".join(missing))
    if expected_state is not None and not hmac.compare_digest(
        params["state"].encode(), expected_state.encode()
    ):
        raise VkOAuthError("invalid_state", "the address belongs to another sign-in")
    return VkRedirect(code=params["code"], state=params["state"], device_id=params["device_id"])


async def exchange_code(
    code: str,
    code_verifier: str,
    device_id: str,
    redirect_uri: str,
    *,
    client_id: str | int,
    oauth_url: str = DEFAULT_OAUTH_URL,
    state: str | None = None,
    client: httpx.AsyncClient | None = None,
) -> VkTokens:
    """Trade the one-time code for tokens; PKCE proves we started the sign-in."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": code_verifier,
        "client_id": str(client_id),
        "device_id": device_id,
        "redirect_uri": redirect_uri,
        "state": state or new_state(),
    }
    payload = await _token_request(oauth_url, form, client)
    return _tokens(payload, device_id, form["state"])


async def refresh(
    refresh_token: str,
    device_id: str,
    *,
    client_id: str | int,
    oauth_url: str = DEFAULT_OAUTH_URL,
    scopes: Sequence[str] | None = None,
    client: httpx.AsyncClient | None = None,
) -> VkTokens:
    """A new token pair; the refresh token passed in stops working once this succeeds."""
    form = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": str(client_id),
        "device_id": device_id,
        "state": new_state(),
    }
    if scopes:
        form["scope"] = " ".join(scopes)
    payload = await _token_request(oauth_url, form, client)
    return _tokens(payload, device_id, form["state"])


async def person_name(
    access_token: str,
    *,
    api_url: str = DEFAULT_API_URL,
    api_version: str = DEFAULT_API_VERSION,
    retry_delays: Sequence[float] = (1.0,),
) -> str:
    """The signed-in person's name as VK shows it ("Ann Smith"), for them to check.

    Raises `VkError` when VK names nobody (a community's token, an answer without a name).
    """

    def ask() -> str:
        with VkVideo(
            access_token, api_url=api_url, api_version=api_version, retry_delays=retry_delays
        ) as vk:
            response = vk.call("users.get")
        people = response if isinstance(response, list) else []
        person = people[0] if people and isinstance(people[0], dict) else {}
        parts = (str(person.get("first_name") or ""), str(person.get("last_name") or ""))
        name = " ".join(part for part in parts if part).strip()
        if not name:
            raise VkError(TOKEN_CHECK_FAILED, "VK named nobody for this token")
        return name

    return await asyncio.to_thread(ask)


async def validate_community_token(
    token: str,
    group_id: int,
    *,
    api_url: str = DEFAULT_API_URL,
    api_version: str = DEFAULT_API_VERSION,
    retry_delays: Sequence[float] = (1.0, 2.0),
) -> str:
    """The community's name when `token` is that community's own access token.

    Raises `VkAuthError` when VK rejects the token, or (code 0) when it is a person's token
    or another community's; `VkError` for anything else VK says.
    """
    group_id = abs(group_id)

    def check() -> str:
        with VkVideo(
            token, api_url=api_url, api_version=api_version, retry_delays=retry_delays
        ) as vk:
            try:
                own_id, name = vk.own_community()
            except VkAuthError:
                raise
            except VkError as exc:
                # groups.getById without an id names the token's community; a person's token
                # has none and VK complains about the missing parameter.
                if exc.code == 100:
                    raise VkAuthError(
                        TOKEN_CHECK_FAILED, "this is not a community access token"
                    ) from None
                raise
        if own_id != group_id:
            raise VkAuthError(
                TOKEN_CHECK_FAILED, f"the token belongs to community {own_id}, not {group_id}"
            )
        return name

    return await asyncio.to_thread(check)


async def _token_request(
    oauth_url: str, form: dict[str, str], client: httpx.AsyncClient | None
) -> dict[str, Any]:
    url = f"{oauth_url.rstrip('/')}/oauth2/auth"
    try:
        if client is None:
            async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=15.0)) as own:
                response = await own.post(url, data=form)
        else:
            response = await client.post(url, data=form)
    except httpx.HTTPError as exc:
        raise VkOAuthError(
            "temporarily_unavailable", f"cannot reach VK ID ({type(exc).__name__})", retryable=True
        ) from None
    try:
        payload = response.json()
    except ValueError:
        payload = None
    status = response.status_code
    if not isinstance(payload, dict):
        raise VkOAuthError("server_error", f"VK ID answered HTTP {status}", retryable=status >= 500)
    if payload.get("error"):
        error = str(payload["error"])
        description = str(payload.get("error_description") or "")
        if error in _GRANT_REJECTED:
            raise VkGrantRejected(error, description)
        raise VkOAuthError(error, description, retryable=error in _TRANSIENT or status >= 500)
    if status >= 400:
        raise VkOAuthError("server_error", f"VK ID answered HTTP {status}", retryable=status >= 500)
    return payload


def _tokens(payload: dict[str, Any], device_id: str, state: str) -> VkTokens:
    echoed = payload.get("state")
    if echoed is not None and not hmac.compare_digest(str(echoed).encode(), state.encode()):
        raise VkOAuthError("invalid_state", "VK ID answered a different request")
    try:
        access_token = str(payload["access_token"])
        refresh_token = str(payload["refresh_token"])
        expires_in = int(payload.get("expires_in") or 3600)
        user_id = int(payload["user_id"])
    except (KeyError, TypeError, ValueError):
        raise VkOAuthError("server_error", "VK ID answered without tokens") from None
    scope = payload.get("scope") or ""
    return VkTokens(
        access_token=access_token,
        refresh_token=refresh_token,
        expires_at=datetime.now(UTC) + timedelta(seconds=expires_in),
        user_id=user_id,
        device_id=str(payload.get("device_id") or device_id),
        scope=tuple(str(scope).replace(",", " ").split()),
    )
