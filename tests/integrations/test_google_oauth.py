"""Google OAuth with PKCE against the fake Google, over real HTTP through httpx."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from googleapiclient import discovery_cache

from integrations import google_oauth
from integrations.google_oauth import (
    YOUTUBE_SCOPES,
    OAuthDenied,
    OAuthError,
    OAuthRevoked,
    OAuthTransient,
    Tokens,
    authorization_url,
    exchange_code,
    new_pkce,
    new_state,
    parse_redirect,
    refresh,
    revoke,
    revoke_url_for,
)
from tests.fakes.google import FakeGoogle

REDIRECT = "https://leap.example.org/oauth/google"


@pytest.fixture
async def google() -> AsyncIterator[FakeGoogle]:
    async with FakeGoogle() as fake:
        yield fake


def _client(google: FakeGoogle, **changed: str) -> dict[str, str]:
    """The client's credentials and the token endpoint, as every token call takes them."""
    return {
        "client_id": google.client_id,
        "client_secret": google.client_secret,
        "token_url": google.token_url,
        **changed,
    }


def _auth_url(google: FakeGoogle, state: str, verifier: str) -> str:
    return authorization_url(google.client_id, REDIRECT, state, verifier, auth_url=google.auth_url)


async def _connect(google: FakeGoogle) -> Tokens:
    state = new_state()
    verifier, _ = new_pkce()
    redirected = google.approve(_auth_url(google, state, verifier))
    code, returned_state = parse_redirect(redirected)
    assert returned_state == state
    return await exchange_code(
        code,
        verifier,
        REDIRECT,
        **_client(google),
    )


def test_authorization_url_asks_for_offline_access_with_s256_pkce() -> None:
    verifier, challenge = new_pkce()
    url = authorization_url("cid", REDIRECT, "st4te", verifier)
    parts = urlsplit(url)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == google_oauth.DEFAULT_AUTH_URL
    assert query == {
        "client_id": "cid",
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": " ".join(YOUTUBE_SCOPES),
        "state": "st4te",
        "access_type": "offline",
        "prompt": "consent",
        "include_granted_scopes": "true",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    assert 43 <= len(verifier) <= 128
    assert verifier not in url


def test_the_one_scope_covers_every_method_the_bot_calls() -> None:
    doc = json.loads(discovery_cache.get_static_doc("youtube", "v3") or "{}")
    resources = doc["resources"]
    for resource, method in [
        ("channels", "list"),
        ("videos", "insert"),
        ("captions", "insert"),
        ("thumbnails", "set"),
        ("playlistItems", "insert"),
    ]:
        accepted = set(resources[resource]["methods"][method]["scopes"])
        assert accepted & set(YOUTUBE_SCOPES), f"{resource}.{method}"
    # Nothing narrower would do: captions take force-ssl (or the partner scope) only.
    assert (
        "https://www.googleapis.com/auth/youtube.upload"
        not in (resources["captions"]["methods"]["insert"]["scopes"])
    )


async def test_connect_approve_exchange_and_refresh(google: FakeGoogle) -> None:
    tokens = await _connect(google)

    assert tokens.access_token in google.access_tokens
    assert tokens.refresh_token in google.refresh_tokens
    assert tokens.scopes == set(YOUTUBE_SCOPES)
    assert not tokens.missing_scopes()
    assert datetime.now(UTC) + timedelta(minutes=55) < tokens.expires_at
    assert not tokens.expired()
    assert google.token_grants == ["authorization_code"]

    renewed = await refresh(
        tokens.refresh_token or "",
        **_client(google),
    )
    assert renewed.access_token != tokens.access_token
    assert renewed.access_token in google.access_tokens
    # Google sent no new refresh token, so the one we had stays.
    assert renewed.refresh_token == tokens.refresh_token
    assert google.token_grants == ["authorization_code", "refresh_token"]


async def test_refresh_takes_a_rotated_refresh_token() -> None:
    async with FakeGoogle(rotate_refresh_tokens=True) as google:
        issued = google.issue_tokens()
        renewed = await refresh(
            issued["refresh_token"],
            **_client(google),
        )
    assert renewed.refresh_token not in (None, issued["refresh_token"])


async def test_pkce_verifier_must_match_the_challenge(google: FakeGoogle) -> None:
    verifier, _ = new_pkce()
    other, _ = new_pkce()
    code, _ = parse_redirect(google.approve(_auth_url(google, "s", verifier)))
    with pytest.raises(OAuthError) as caught:
        await exchange_code(
            code,
            other,
            REDIRECT,
            **_client(google),
        )
    assert caught.value.error == "invalid_grant"
    assert not isinstance(caught.value, OAuthRevoked)


async def test_a_code_works_once(google: FakeGoogle) -> None:
    verifier, _ = new_pkce()
    code, _ = parse_redirect(google.approve(_auth_url(google, "s", verifier)))
    kwargs = _client(google)
    await exchange_code(code, verifier, REDIRECT, **kwargs)
    with pytest.raises(OAuthError, match="invalid_grant"):
        await exchange_code(code, verifier, REDIRECT, **kwargs)


async def test_wrong_client_secret_is_invalid_client(google: FakeGoogle) -> None:
    verifier, _ = new_pkce()
    code, _ = parse_redirect(google.approve(_auth_url(google, "s", verifier)))
    with pytest.raises(OAuthError) as caught:
        await exchange_code(
            code,
            verifier,
            REDIRECT,
            **_client(google, client_secret="not-the-secret"),
        )
    assert caught.value.error == "invalid_client"


async def test_revoked_refresh_token_raises_oauth_revoked(google: FakeGoogle) -> None:
    tokens = await _connect(google)
    google.revoke(tokens.refresh_token or "")
    with pytest.raises(OAuthRevoked) as caught:
        await refresh(
            tokens.refresh_token or "",
            **_client(google),
        )
    assert caught.value.error == "invalid_grant"


async def test_token_endpoint_outage_is_transient(google: FakeGoogle) -> None:
    issued = google.issue_tokens()
    google.fail("token", 503)
    with pytest.raises(OAuthTransient):
        await refresh(
            issued["refresh_token"],
            **_client(google),
        )
    dead = f"http://127.0.0.1:{_closed_port()}/token"
    with pytest.raises(OAuthTransient):
        await refresh(issued["refresh_token"], client_id="c", client_secret="s", token_url=dead)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_pasted_redirect_url_is_parsed(google: FakeGoogle) -> None:
    verifier, _ = new_pkce()
    redirected = google.approve(_auth_url(google, "abc123", verifier))
    # People paste with stray spaces and line breaks around the URL.
    code, state = parse_redirect(f"  {redirected}\n")
    assert state == "abc123"
    assert code in google.grants


async def test_browser_consent_redirects_to_our_callback(google: FakeGoogle) -> None:
    verifier, _ = new_pkce()
    async with httpx.AsyncClient() as client:
        answer = await client.get(_auth_url(google, "xyz", verifier))
    assert answer.status_code == 302
    code, state = parse_redirect(answer.headers["location"])
    assert state == "xyz"
    tokens = await exchange_code(
        code,
        verifier,
        REDIRECT,
        **_client(google),
    )
    assert tokens.refresh_token


async def test_access_denied_is_a_clear_error(google: FakeGoogle) -> None:
    verifier, _ = new_pkce()
    with pytest.raises(OAuthDenied) as caught:
        parse_redirect(google.deny(_auth_url(google, "s", verifier)))
    assert caught.value.error == "access_denied"


@pytest.mark.parametrize(
    "url",
    [
        "https://leap.example.org/oauth/google?state=s",
        "https://leap.example.org/oauth/google?code=c",
        "just some text",
    ],
)
def test_redirect_without_code_or_state_is_rejected(url: str) -> None:
    with pytest.raises(OAuthError) as caught:
        parse_redirect(url)
    assert caught.value.error == "invalid_request"


def test_other_redirect_errors_keep_googles_code() -> None:
    with pytest.raises(OAuthError) as caught:
        parse_redirect(f"{REDIRECT}?error=invalid_scope&error_description=bad+scope&state=s")
    assert not isinstance(caught.value, OAuthDenied)
    assert (caught.value.error, caught.value.description) == ("invalid_scope", "bad scope")


async def test_unticked_scope_shows_as_missing(google: FakeGoogle) -> None:
    verifier, _ = new_pkce()
    redirected = google.approve(_auth_url(google, "s", verifier), scopes=set())
    code, _ = parse_redirect(redirected)
    tokens = await exchange_code(
        code,
        verifier,
        REDIRECT,
        **_client(google),
    )
    assert tokens.missing_scopes() == set(YOUTUBE_SCOPES)


async def test_revoke_withdraws_the_grant(google: FakeGoogle) -> None:
    tokens = await _connect(google)
    url = revoke_url_for(google.token_url)
    assert url == google.revoke_url
    assert revoke_url_for(google_oauth.DEFAULT_TOKEN_URL) == "https://oauth2.googleapis.com/revoke"
    await revoke(tokens.refresh_token or "", revoke_url=url)
    await revoke("never-issued", revoke_url=url)
    assert google.refresh_tokens[tokens.refresh_token or ""].revoked


async def test_secrets_stay_out_of_logs_and_reprs(
    google: FakeGoogle, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tokens = await _connect(google)
    renewed = await refresh(
        tokens.refresh_token or "",
        **_client(google),
    )
    google.revoke(tokens.refresh_token or "")
    with pytest.raises(OAuthRevoked) as caught:
        await refresh(
            tokens.refresh_token or "",
            **_client(google),
        )
    logging.getLogger("test").info("connected: %r %r", tokens, renewed)
    seen = caplog.text + str(caught.value) + repr(tokens) + repr(renewed)
    assert "connected" in seen
    for secret in (
        tokens.access_token,
        tokens.refresh_token,
        renewed.access_token,
        google.client_secret,
    ):
        assert secret and secret not in seen
