"""VK ID sign-in and pasted community tokens over real HTTP against the fake VK server."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from integrations.vk import VkAuthError, VkError, VkVideo
from integrations.vk_oauth import (
    VkGrantRejected,
    VkOAuthError,
    VkTokens,
    authorization_url,
    exchange_code,
    new_pkce,
    new_state,
    parse_redirect,
    person_name,
    refresh,
    validate_community_token,
)
from tests.fakes.vk import DEFAULT_CLIENT_ID, FakeVk

REDIRECT = "https://leap.example/oauth/vk"
USER = 7
GROUP = 42


@pytest.fixture
async def vk() -> AsyncIterator[FakeVk]:
    async with FakeVk(redirect_uris={REDIRECT}) as fake:
        fake.add_user(USER, "Ann")
        fake.add_group(GROUP, "Lectures", admins={USER})
        fake.add_group(43, "Another club")
        yield fake


async def sign_in(vk: FakeVk) -> tuple[VkTokens, dict[str, str]]:
    verifier, challenge = new_pkce()
    state = new_state()
    url = authorization_url(DEFAULT_CLIENT_ID, REDIRECT, state, challenge, oauth_url=vk.oauth_url)
    landing = parse_redirect(await vk.approve(url, user_id=USER), expected_state=state)
    tokens = await exchange_code(
        landing.code,
        verifier,
        landing.device_id,
        REDIRECT,
        client_id=DEFAULT_CLIENT_ID,
        oauth_url=vk.oauth_url,
        state=state,
    )
    return tokens, {"verifier": verifier, "code": landing.code, "state": state}


def api(vk: FakeVk, token: str) -> VkVideo:
    return VkVideo(token, api_url=vk.api_url, api_version="5.199", retry_delays=(), rps_delay=0)


def test_authorization_url_asks_for_video_rights_with_pkce() -> None:
    verifier, challenge = new_pkce()
    url = authorization_url(
        "51900001", REDIRECT, "s" * 40, challenge, oauth_url="https://id.vk.ru/"
    )

    parts = urlsplit(url)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "id.vk.ru", "/authorize")
    assert query == {
        "response_type": "code",
        "client_id": "51900001",
        "redirect_uri": REDIRECT,
        "state": "s" * 40,
        "code_challenge": challenge,
        "code_challenge_method": "s256",
        "scope": "video groups",
    }
    assert verifier not in url
    assert 43 <= len(verifier) <= 128


async def test_sign_in_trades_the_code_for_working_tokens(vk: FakeVk) -> None:
    tokens, _ = await sign_in(vk)

    assert tokens.user_id == USER
    assert tokens.scope == ("video", "groups")
    assert tokens.expires_at > datetime.now(UTC) + timedelta(minutes=50)
    assert not tokens.expires_within(60)
    [request] = vk.token_requests
    assert request["grant_type"] == "authorization_code"
    assert request["device_id"] == tokens.device_id
    assert vk.owner_of(tokens.access_token) == ("user", USER)
    assert await api(vk, tokens.access_token).group_name_async(GROUP) == "Lectures"


async def test_the_signed_in_person_is_named_for_them_to_check(vk: FakeVk) -> None:
    vk.users[USER].last_name = "Petrova"
    tokens, _ = await sign_in(vk)

    assert await person_name(tokens.access_token, api_url=vk.api_url) == "Ann Petrova"
    # A community's own token speaks for nobody.
    with pytest.raises(VkError):
        await person_name(vk.community_token(GROUP), api_url=vk.api_url)
    with pytest.raises(VkAuthError):
        await person_name("vk1.a.not-a-token", api_url=vk.api_url, retry_delays=())


async def test_the_code_works_once_and_only_with_its_verifier(vk: FakeVk) -> None:
    _, challenge = new_pkce()
    verifier, _ = new_pkce()  # not the one the challenge was made from
    state = new_state()
    url = authorization_url(DEFAULT_CLIENT_ID, REDIRECT, state, challenge, oauth_url=vk.oauth_url)
    landing = parse_redirect(await vk.approve(url, user_id=USER))

    with pytest.raises(VkGrantRejected) as caught:
        await exchange_code(
            landing.code,
            verifier,
            landing.device_id,
            REDIRECT,
            client_id=DEFAULT_CLIENT_ID,
            oauth_url=vk.oauth_url,
        )
    assert isinstance(caught.value, VkAuthError)
    assert caught.value.error == "invalid_grant"

    tokens, secrets = await sign_in(vk)
    with pytest.raises(VkGrantRejected):
        await exchange_code(
            secrets["code"],
            secrets["verifier"],
            tokens.device_id,
            REDIRECT,
            client_id=DEFAULT_CLIENT_ID,
            oauth_url=vk.oauth_url,
        )


async def test_refresh_rotates_the_pair(vk: FakeVk) -> None:
    tokens, _ = await sign_in(vk)

    fresh = await refresh(
        tokens.refresh_token, tokens.device_id, client_id=DEFAULT_CLIENT_ID, oauth_url=vk.oauth_url
    )

    assert fresh.user_id == USER
    assert fresh.device_id == tokens.device_id
    assert fresh.access_token != tokens.access_token
    assert fresh.refresh_token != tokens.refresh_token
    assert vk.token_requests[-1]["grant_type"] == "refresh_token"
    assert await api(vk, fresh.access_token).group_name_async(GROUP) == "Lectures"
    with pytest.raises(VkGrantRejected):
        await refresh(
            tokens.refresh_token,
            tokens.device_id,
            client_id=DEFAULT_CLIENT_ID,
            oauth_url=vk.oauth_url,
        )
    with pytest.raises(VkGrantRejected):
        await refresh(
            fresh.refresh_token,
            "another-device",
            client_id=DEFAULT_CLIENT_ID,
            oauth_url=vk.oauth_url,
        )


async def test_a_wrong_client_is_an_oauth_error_but_not_a_reconnect(vk: FakeVk) -> None:
    tokens, _ = await sign_in(vk)

    with pytest.raises(VkOAuthError) as caught:
        await refresh(tokens.refresh_token, tokens.device_id, client_id="1", oauth_url=vk.oauth_url)

    assert caught.value.error == "invalid_client"
    assert not isinstance(caught.value, VkAuthError)


async def test_unreachable_vk_id_is_retryable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    with pytest.raises(VkOAuthError) as caught:
        await refresh("r", "d", client_id="1", oauth_url=f"http://127.0.0.1:{port}")

    assert caught.value.retryable


async def test_pasted_redirect_addresses(vk: FakeVk) -> None:
    _, challenge = new_pkce()
    state = new_state()
    url = authorization_url(DEFAULT_CLIENT_ID, REDIRECT, state, challenge, oauth_url=vk.oauth_url)
    landing = await vk.approve(url, user_id=USER)
    expected = parse_redirect(landing, expected_state=state)

    query_only = landing.split("?", 1)[1]
    assert parse_redirect(f"  {landing}\n") == expected
    assert parse_redirect(query_only) == expected
    assert parse_redirect("?" + query_only) == expected
    assert parse_redirect(f"{REDIRECT}#{query_only}") == expected
    payload = {"code": expected.code, "state": state, "device_id": expected.device_id}
    assert parse_redirect(f"{REDIRECT}?{urlencode({'payload': json.dumps(payload)})}") == expected

    with pytest.raises(VkOAuthError) as wrong_state:
        parse_redirect(landing, expected_state=new_state())
    assert wrong_state.value.error == "invalid_state"
    with pytest.raises(VkOAuthError) as incomplete:
        parse_redirect(f"{REDIRECT}?state={state}")
    assert incomplete.value.error == "invalid_request"
    assert "code" in str(incomplete.value)


async def test_a_refusal_on_the_consent_page_is_reported(vk: FakeVk) -> None:
    _, challenge = new_pkce()
    url = authorization_url(
        DEFAULT_CLIENT_ID, REDIRECT, new_state(), challenge, oauth_url=vk.oauth_url
    )

    landing = await vk.approve(url, user_id=USER, deny=True)

    with pytest.raises(VkOAuthError) as caught:
        parse_redirect(landing)
    assert caught.value.error == "access_denied"
    assert str(caught.value) == "VK ID: access_denied (User denied access)"
    assert not isinstance(caught.value, VkAuthError)


async def test_a_pasted_community_token_is_checked_against_its_community(vk: FakeVk) -> None:
    check = {"api_url": vk.api_url, "api_version": "5.199", "retry_delays": ()}

    assert await validate_community_token(vk.community_token(GROUP), GROUP, **check) == "Lectures"
    assert await validate_community_token(vk.community_token(GROUP), -GROUP, **check) == "Lectures"

    with pytest.raises(VkAuthError) as other:
        await validate_community_token(vk.community_token(43), GROUP, **check)
    assert "43" in str(other.value)
    with pytest.raises(VkAuthError) as personal:
        await validate_community_token(vk.user_token(USER), GROUP, **check)
    assert "not a community" in str(personal.value)
    revoked = vk.community_token(GROUP)
    vk.revoke(revoked)
    with pytest.raises(VkAuthError) as rejected:
        await validate_community_token(revoked, GROUP, **check)
    assert rejected.value.code == 5


async def test_tokens_and_codes_never_reach_the_logs(
    vk: FakeVk, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    tokens, secrets = await sign_in(vk)
    fresh = await refresh(
        tokens.refresh_token, tokens.device_id, client_id=DEFAULT_CLIENT_ID, oauth_url=vk.oauth_url
    )
    with pytest.raises(VkGrantRejected) as reused:
        await refresh(
            tokens.refresh_token,
            tokens.device_id,
            client_id=DEFAULT_CLIENT_ID,
            oauth_url=vk.oauth_url,
        )
    community = vk.community_token(GROUP)
    await validate_community_token(community, GROUP, api_url=vk.api_url, retry_delays=())

    assert "oauth2/auth" in caplog.text  # the HTTP client logged its requests
    leaked = [
        tokens.access_token,
        tokens.refresh_token,
        fresh.access_token,
        fresh.refresh_token,
        secrets["code"],
        secrets["verifier"],
        community,
    ]
    for secret in leaked:
        assert secret not in caplog.text
        assert secret not in repr(tokens) + repr(fresh)
        assert secret not in str(reused.value)
