"""Google OAuth 2.0 for a "web" application: authorization code with PKCE, refresh, revoke.

The bot builds an authorization URL, the person approves in a browser, and Google sends the
browser to our redirect URI with ``code`` and ``state``; the web server (or a person pasting
that URL into the chat) hands them to `exchange_code`. Workers later keep the access token
fresh with `refresh`. Every endpoint is a parameter so proxies and test servers can stand in.

Scopes: one, ``youtube.force-ssl``. The YouTube Data API v3 discovery document lists it
among the accepted scopes of every method we call (channels.list, videos.insert,
captions.insert, thumbnails.set, playlistItems.insert), and captions.insert accepts nothing
narrower (only ``youtube.force-ssl`` or the partner scope). ``youtube.upload`` would not
cover captions or playlists and ``youtube`` would not cover captions, so asking for either
alongside ``youtube.force-ssl`` only lengthens the consent screen.

``drive.readonly`` (DRIVE_SCOPES) is asked for only when a person first sends a link to a
private Drive file, together with the YouTube scope so that the grant keeps both
(``include_granted_scopes`` adds what was granted before); nobody else sees it on the consent
screen. Reading a file's bytes (files.get with ``alt=media``) needs it or ``drive``.

Tokens and the client secret are never logged, and `Tokens` keeps them out of its repr.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

YOUTUBE_FORCE_SSL = "https://www.googleapis.com/auth/youtube.force-ssl"
YOUTUBE_SCOPES: tuple[str, ...] = (YOUTUBE_FORCE_SSL,)
DRIVE_READONLY = "https://www.googleapis.com/auth/drive.readonly"
DRIVE_SCOPES: tuple[str, ...] = (DRIVE_READONLY,)

DEFAULT_AUTH_URL = "https://accounts.google.com/o/oauth2/v2/auth"
DEFAULT_TOKEN_URL = "https://oauth2.googleapis.com/token"

_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


class OAuthError(Exception):
    """Google refused or could not be asked; `error` is the OAuth error code."""

    def __init__(self, error: str, description: str = "") -> None:
        super().__init__(f"{error}: {description}" if description else error)
        self.error = error
        self.description = description


class OAuthRevoked(OAuthError):
    """The refresh token no longer works (revoked, expired, password changed): reconnect."""


class OAuthDenied(OAuthError):
    """The person pressed Cancel on Google's consent screen."""


class OAuthTransient(OAuthError):
    """Google's token endpoint did not answer usefully (network, 5xx); try again later."""


@dataclass(frozen=True)
class Tokens:
    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: datetime
    scope: str = ""

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset(self.scope.split())

    def missing_scopes(self, required: Iterable[str] = YOUTUBE_SCOPES) -> frozenset[str]:
        """Scopes the person did not grant: Google lets them untick boxes on the consent page."""
        return frozenset(required) - self.scopes

    def expired(self, *, margin: timedelta = timedelta(seconds=60)) -> bool:
        return datetime.now(UTC) + margin >= self.expires_at


def new_pkce() -> tuple[str, str]:
    """A fresh (code_verifier, S256 code_challenge) pair."""
    # 64 random bytes give an 86-character verifier, inside RFC 7636's 43..128.
    verifier = secrets.token_urlsafe(64)
    return verifier, _challenge(verifier)


def new_state() -> str:
    return secrets.token_urlsafe(24)


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorization_url(
    client_id: str,
    redirect_uri: str,
    state: str,
    code_verifier: str,
    *,
    auth_url: str = DEFAULT_AUTH_URL,
    scopes: Iterable[str] = YOUTUBE_SCOPES,
) -> str:
    """Where to send the person's browser to approve access.

    ``access_type=offline`` asks for a refresh token, and ``prompt=consent`` makes Google send
    one again when the same account reconnects (otherwise only the first grant carries one).
    """
    params = {
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": " ".join(scopes),
        "state": state,
        "access_type": "offline",
        "prompt": "consent",
        "include_granted_scopes": "true",
        "code_challenge": _challenge(code_verifier),
        "code_challenge_method": "S256",
    }
    separator = "&" if urlsplit(auth_url).query else "?"
    return f"{auth_url}{separator}{urlencode(params)}"


def parse_redirect(url: str) -> tuple[str, str]:
    """(code, state) from the URL Google redirected the browser to, as a person pasted it.

    The caller must compare `state` with the one it issued before exchanging the code.
    """
    query = parse_qs(urlsplit(url.strip()).query)

    def one(name: str) -> str | None:
        values = query.get(name)
        return values[0] if values else None

    error = one("error")
    if error == "access_denied":
        raise OAuthDenied(error, "the request for access was declined")
    if error:
        raise OAuthError(error, one("error_description") or "")
    code, state = one("code"), one("state")
    if not code or not state:
        raise OAuthError("invalid_request", "the URL carries no authorization code")
    return code, state


async def exchange_code(
    code: str,
    code_verifier: str,
    redirect_uri: str,
    *,
    client_id: str,
    client_secret: str,
    token_url: str = DEFAULT_TOKEN_URL,
    http: httpx.AsyncClient | None = None,
) -> Tokens:
    """Trade an authorization code for tokens. A used or stale code raises OAuthError."""
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": code_verifier,
        "redirect_uri": redirect_uri,
        "client_id": client_id,
        "client_secret": client_secret,
    }
    body = await _token_request(token_url, data, http)
    return _tokens(body, refresh_token=None)


async def refresh(
    refresh_token: str,
    *,
    client_id: str,
    client_secret: str,
    token_url: str = DEFAULT_TOKEN_URL,
    http: httpx.AsyncClient | None = None,
) -> Tokens:
    """A new access token. Google usually sends no new refresh token; the old one stays."""
    data = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": client_id,
        "client_secret": client_secret,
    }
    try:
        body = await _token_request(token_url, data, http)
    except OAuthError as exc:
        if exc.error == "invalid_grant":
            raise OAuthRevoked(exc.error, exc.description) from None
        raise
    return _tokens(body, refresh_token=refresh_token)


def revoke_url_for(token_url: str) -> str:
    """Google serves revocation next to the token endpoint (…/token → …/revoke)."""
    parts = urlsplit(token_url)
    path = parts.path.rsplit("/", 1)[0] + "/revoke"
    return parts._replace(path=path, query="").geturl()


async def revoke(token: str, *, revoke_url: str, http: httpx.AsyncClient | None = None) -> None:
    """Withdraw a grant (refresh or access token) when a workspace disconnects YouTube.

    A token Google already forgot counts as revoked.
    """
    body = await _post(revoke_url, {"token": token}, http)
    if body.status_code >= 500:
        raise OAuthTransient("server_error", f"HTTP {body.status_code}")
    if body.status_code != 200 and _json(body).get("error") != "invalid_token":
        raise OAuthError(str(_json(body).get("error", f"HTTP {body.status_code}")))


async def _token_request(
    url: str, data: dict[str, str], http: httpx.AsyncClient | None
) -> dict[str, Any]:
    response = await _post(url, data, http)
    body = _json(response)
    if response.status_code >= 500:
        raise OAuthTransient("server_error", f"HTTP {response.status_code}")
    if response.status_code != 200 or "error" in body:
        error = str(body.get("error") or f"HTTP {response.status_code}")
        raise OAuthError(error, str(body.get("error_description") or ""))
    if not isinstance(body.get("access_token"), str):
        raise OAuthError("invalid_response", "no access_token in the answer")
    return body


async def _post(url: str, data: dict[str, str], http: httpx.AsyncClient | None) -> httpx.Response:
    try:
        if http is not None:
            return await http.post(url, data=data)
        async with httpx.AsyncClient(timeout=_TIMEOUT) as client:
            return await client.post(url, data=data)
    except httpx.HTTPError as exc:
        # httpx's messages name the URL at most, never the form fields that carry secrets.
        raise OAuthTransient("network", f"{type(exc).__name__}: {exc}") from exc


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _tokens(body: dict[str, Any], *, refresh_token: str | None) -> Tokens:
    expires_in = int(body.get("expires_in") or 3600)
    return Tokens(
        access_token=body["access_token"],
        refresh_token=body.get("refresh_token") or refresh_token,
        expires_at=datetime.now(UTC) + timedelta(seconds=expires_in),
        scope=str(body.get("scope") or ""),
    )
