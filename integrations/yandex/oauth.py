"""Connecting a Yandex account: OAuth 2.0 authorization code with PKCE, and refreshing it.

The flow, as the bot drives it::

    verifier, challenge = new_pkce()
    state = new_state()                  # kept with the verifier until the person returns
    url = authorization_url(client_id, redirect_uri, state, challenge, oauth_url=...)
    # the person opens `url`, allows access and lands on redirect_uri (our web server, or
    # they paste the address into the chat)
    account, payload = await sign_in(address, state=state, verifier=verifier, ...)
    # later, when the access token is about to run out or the Disk answers 401
    tokens = await refresh(payload["refresh_token"], client_id=..., client_secret=...)

Rules it keeps:

- The state is compared in constant time, and a code is traded only together with the PKCE
  verifier that never left the server (`code_challenge_method=S256`).
- `force_confirm=yes` makes Yandex ask even when a browser is already signed in, so the person
  sees which account they hand over.
- `sign_in` fails only with `SignInFailed`, whose `reason` names a ``connect.error.*`` message
  (declined, expired, refused, unreachable); no token or code is ever put into an exception.
- Yandex may hand out a new refresh token on refresh; whatever comes back is what is stored.
- Every sign-in names a device (``device_id``, ``device_name``): Yandex revokes only tokens
  issued for a device (``POST /revoke_token``), and disconnecting asks it to (`revoke`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import httpx

from integrations.yandex.disk import DEFAULT_API_URL, YandexDisk
from integrations.yandex.errors import YandexAuthError, YandexError, YandexTransient

DEFAULT_OAUTH_URL = "https://oauth.yandex.ru"
# Reading (intake of private files and folders) and writing (publishing) the whole Disk.
DEFAULT_SCOPES: tuple[str, ...] = ("cloud_api:disk.read", "cloud_api:disk.write")
# How the connection is named on the person's Yandex ID page of devices and apps.
DEVICE_NAME = "LEAP bot"
# The token endpoint's answers that mean the code or refresh token will never work again.
_GRANT_REJECTED = frozenset({"invalid_grant", "unauthorized_client", "invalid_client"})


class SignInFailed(Exception):
    """A sign-in that cannot be finished; `reason` names a ``connect.error.*`` message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class YandexTokens:
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: datetime

    def expires_within(self, seconds: float, *, now: datetime | None = None) -> bool:
        """True when the access token is gone or will be within `seconds` (refresh first)."""
        return self.expires_at - timedelta(seconds=seconds) <= (now or datetime.now(UTC))

    def stored(self) -> dict[str, str]:
        """The fields a credential keeps of these tokens."""
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_at": self.expires_at.isoformat(),
        }

    @classmethod
    def from_stored(cls, payload: dict[str, Any]) -> YandexTokens:
        expires = payload.get("expires_at")
        return cls(
            access_token=str(payload.get("access_token") or ""),
            refresh_token=str(payload.get("refresh_token") or ""),
            expires_at=datetime.fromisoformat(str(expires)) if expires else datetime.now(UTC),
        )


def new_pkce() -> tuple[str, str]:
    """A fresh (code_verifier, code_challenge) pair; the verifier never leaves our side."""
    verifier = secrets.token_urlsafe(64)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def new_state() -> str:
    return secrets.token_urlsafe(32)


def authorization_url(
    client_id: str,
    redirect_uri: str,
    state: str,
    code_challenge: str,
    *,
    oauth_url: str = DEFAULT_OAUTH_URL,
    scopes: Sequence[str] = DEFAULT_SCOPES,
    device_name: str = DEVICE_NAME,
) -> str:
    """The address of Yandex's consent page for the person to open; the token it leads to is
    issued for a device of its own, so that it can be revoked."""
    query = {
        "device_id": secrets.token_hex(16),
        "device_name": device_name,
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "state": state,
        "code_challenge": code_challenge,
        "code_challenge_method": "S256",
        "scope": " ".join(scopes),
        "force_confirm": "yes",
    }
    return f"{oauth_url.rstrip('/')}/authorize?{urlencode(query, quote_via=quote)}"


def parse_redirect(url: str, *, expected_state: str) -> str:
    """The code from the address Yandex sent the person to; `SignInFailed` when there is none,
    when the person declined, or when the address belongs to another sign-in."""
    text = url.strip()
    parts = urlsplit(text)
    chunk = parts.query if parts.scheme and parts.netloc else text.split("?", 1)[-1]
    params = dict(parse_qsl(chunk, keep_blank_values=True))
    if params.get("error"):
        raise SignInFailed("declined" if params["error"] == "access_denied" else "refused")
    state = params.get("state", "")
    if not hmac.compare_digest(state.encode(), expected_state.encode()):
        raise SignInFailed("expired")
    if not params.get("code"):
        raise SignInFailed("refused")
    return params["code"]


async def exchange_code(
    code: str,
    verifier: str,
    *,
    client_id: str,
    client_secret: str,
    oauth_url: str = DEFAULT_OAUTH_URL,
    client: httpx.AsyncClient | None = None,
) -> YandexTokens:
    """Trade the one-time code for tokens; the verifier proves we started the sign-in."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": verifier,
        "client_id": client_id,
        "client_secret": client_secret,
    }
    return _tokens(await _token_request(oauth_url, form, client))


async def refresh(
    refresh_token: str,
    *,
    client_id: str,
    client_secret: str,
    oauth_url: str = DEFAULT_OAUTH_URL,
    client: httpx.AsyncClient | None = None,
) -> YandexTokens:
    """New tokens for a refresh token; `YandexAuthError` when Yandex no longer takes it."""
    form = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": client_id,
        "client_secret": client_secret,
    }
    tokens = _tokens(await _token_request(oauth_url, form, client))
    # An answer without a new refresh token leaves the old one in force.
    return (
        tokens
        if tokens.refresh_token
        else YandexTokens(tokens.access_token, refresh_token, tokens.expires_at)
    )


async def revoke(
    access_token: str,
    *,
    client_id: str,
    client_secret: str,
    oauth_url: str = DEFAULT_OAUTH_URL,
    client: httpx.AsyncClient | None = None,
) -> None:
    """Ask Yandex to withdraw a token (and its refresh token); `YandexError` when it does not
    (a token not issued for a device, one already gone, Yandex not answering)."""
    form = {"access_token": access_token, "client_id": client_id, "client_secret": client_secret}
    answer = await _token_request(oauth_url, form, client, path="revoke_token")
    if answer.get("status") != "ok":
        raise YandexError(200, "server_error", "Yandex OAuth did not confirm the revocation")


async def sign_in(
    url: str,
    *,
    state: str,
    verifier: str,
    client_id: str,
    client_secret: str,
    oauth_url: str = DEFAULT_OAUTH_URL,
    api_url: str = DEFAULT_API_URL,
) -> tuple[str, dict[str, Any]]:
    """(the account's name for the person to check, the credential's payload) from the
    address the browser landed on."""
    code = parse_redirect(url, expected_state=state)
    try:
        tokens = await exchange_code(
            code, verifier, client_id=client_id, client_secret=client_secret, oauth_url=oauth_url
        )
    except YandexTransient:
        raise SignInFailed("unreachable") from None
    except YandexError:
        raise SignInFailed("refused") from None
    try:
        async with YandexDisk(tokens.access_token, api_url=api_url) as disk:
            owner = await disk.owner()
    except YandexAuthError:
        raise SignInFailed("refused") from None
    except YandexError:
        raise SignInFailed("unreachable") from None
    account = owner.display_name or owner.login
    if owner.login and owner.login != account:
        account = f"{account} ({owner.login})"
    payload: dict[str, Any] = {**tokens.stored(), "login": owner.login, "uid": owner.uid}
    return account or "Yandex", payload


async def _token_request(
    oauth_url: str, form: dict[str, str], client: httpx.AsyncClient | None, path: str = "token"
) -> dict[str, Any]:
    url = f"{oauth_url.rstrip('/')}/{path}"
    try:
        if client is None:
            async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=15.0)) as own:
                response = await own.post(url, data=form)
        else:
            response = await client.post(url, data=form)
    except httpx.HTTPError as exc:
        reason = f"cannot reach Yandex OAuth ({type(exc).__name__})"
        raise YandexTransient(0, "unreachable", reason) from None
    status = response.status_code
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        payload = {}
    error = str(payload.get("error") or "")
    description = str(payload.get("error_description") or "")
    if status >= 500 or status == 429:
        raise YandexTransient(status, error or "server_error", description)
    if error in _GRANT_REJECTED:
        raise YandexAuthError(status, error, description)
    if error or status >= 400:
        raise YandexError(status, error or "invalid_request", description)
    return payload


def _tokens(payload: dict[str, Any]) -> YandexTokens:
    try:
        access_token = str(payload["access_token"])
        expires_in = int(payload.get("expires_in") or 3600)
    except (KeyError, TypeError, ValueError):
        raise YandexError(200, "server_error", "Yandex OAuth answered without a token") from None
    return YandexTokens(
        access_token=access_token,
        refresh_token=str(payload.get("refresh_token") or ""),
        expires_at=datetime.now(UTC) + timedelta(seconds=expires_in),
    )
