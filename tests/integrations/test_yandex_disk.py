"""The Yandex OAuth and Disk clients against the fake Yandex: what each answer means."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from integrations.yandex import (
    YandexAuthError,
    YandexDisk,
    YandexDiskFull,
    disk_path,
    oauth,
    safe_name,
)
from tests.fakes.yandex import FakeYandex

REDIRECT = "https://bot.example/oauth/yandex/callback"


@pytest.fixture
async def yandex() -> AsyncIterator[FakeYandex]:
    async with FakeYandex() as fake:
        fake.add_account("ann", "Ann Petrova", total_space=5_000_000)
        yield fake


def _disk(yandex: FakeYandex, token: str) -> YandexDisk:
    return YandexDisk(token, api_url=yandex.api_url, retry_delays=(0.01, 0.01))


async def test_sign_in_trades_the_code_with_its_verifier_and_names_the_account(
    yandex: FakeYandex,
) -> None:
    verifier, challenge = oauth.new_pkce()
    state = oauth.new_state()
    url = oauth.authorization_url(
        yandex.client_id, REDIRECT, state, challenge, oauth_url=yandex.url
    )
    assert url.startswith(f"{yandex.url}/authorize?") and "code_challenge_method=S256" in url
    landing = yandex.approve(url, login="ann")

    account, payload = await oauth.sign_in(
        landing,
        state=state,
        verifier=verifier,
        client_id=yandex.client_id,
        client_secret=yandex.client_secret,
        oauth_url=yandex.oauth_url,
        api_url=yandex.api_url,
    )

    assert account == "Ann Petrova (ann)"
    assert yandex.owner_of(payload["access_token"]) == "ann"
    assert payload["refresh_token"] in yandex.refresh_tokens
    [request] = yandex.token_requests
    assert request["code_verifier"] == verifier


@pytest.mark.parametrize(
    ("change", "reason"),
    [("state", "expired"), ("verifier", "refused"), ("declined", "declined")],
)
async def test_a_sign_in_that_cannot_be_finished_says_why(
    yandex: FakeYandex, change: str, reason: str
) -> None:
    verifier, challenge = oauth.new_pkce()
    state = oauth.new_state()
    url = oauth.authorization_url(
        yandex.client_id, REDIRECT, state, challenge, oauth_url=yandex.url
    )
    landing = yandex.decline(url) if change == "declined" else yandex.approve(url, login="ann")
    with pytest.raises(oauth.SignInFailed) as failed:
        await oauth.sign_in(
            landing,
            state=oauth.new_state() if change == "state" else state,
            verifier=oauth.new_pkce()[0] if change == "verifier" else verifier,
            client_id=yandex.client_id,
            client_secret=yandex.client_secret,
            oauth_url=yandex.oauth_url,
            api_url=yandex.api_url,
        )
    assert failed.value.reason == reason


async def test_refresh_gives_a_new_pair_and_a_revoked_one_is_an_auth_error(
    yandex: FakeYandex,
) -> None:
    old = yandex.refresh_token_for("ann")
    fresh = await oauth.refresh(
        old, client_id=yandex.client_id, client_secret=yandex.client_secret, oauth_url=yandex.url
    )
    assert yandex.owner_of(fresh.access_token) == "ann"
    assert fresh.refresh_token != old and not fresh.expires_within(3600)
    yandex.revoke("ann")
    with pytest.raises(YandexAuthError):
        await oauth.refresh(
            fresh.refresh_token,
            client_id=yandex.client_id,
            client_secret=yandex.client_secret,
            oauth_url=yandex.url,
        )


async def test_upload_into_new_folders_publish_and_read_back(
    yandex: FakeYandex, tmp_path: Path
) -> None:
    video = tmp_path / "v.mp4"
    video.write_bytes(b"v" * 300_000)
    seen: list[int] = []

    async def progress(done: int, total: int | None) -> None:
        seen.append(done)

    async with _disk(yandex, yandex.token_for("ann")) as disk:
        await disk.make_folders("disk:/LEAP/Physics/Lecture 1")
        await disk.make_folders("disk:/LEAP/Physics/Lecture 1")  # there already: fine
        await disk.upload("disk:/LEAP/Physics/Lecture 1/v.mp4", video, on_progress=progress)
        url = await disk.publish("disk:/LEAP/Physics/Lecture 1")
        folder, items = await disk.listing("disk:/LEAP/Physics/Lecture 1")
        back = tmp_path / "back.mp4"
        size = await disk.download("disk:/LEAP/Physics/Lecture 1/v.mp4", back)

    assert url.startswith("https://disk.yandex.ru/d/") and folder.public_url == url
    assert [(i.name, i.size, i.media_type) for i in items] == [("v.mp4", 300_000, "video")]
    assert size == 300_000 and back.read_bytes() == video.read_bytes()
    assert seen[-1] == 300_000


async def test_an_upload_cut_in_the_middle_is_sent_again_whole_to_the_same_path(
    yandex: FakeYandex, tmp_path: Path
) -> None:
    video = tmp_path / "v.mp4"
    video.write_bytes(b"x" * 2_500_000)
    yandex.fail_upload(times=1, drop=True)
    yandex.fail_upload(times=1, status=503)
    async with _disk(yandex, yandex.token_for("ann")) as disk:
        await disk.make_folders("disk:/A")
        await disk.upload("disk:/A/v.mp4", video)
    attempts = yandex.uploads_to("disk:/A/v.mp4")
    assert [status for _size, status in attempts] == [0, 503, 201]
    assert attempts[0][0] < 2_500_000
    assert list(yandex.accounts["ann"].files) == ["disk:/A/v.mp4"]


async def test_a_full_disk_and_a_revoked_token_are_told_apart(
    yandex: FakeYandex, tmp_path: Path
) -> None:
    big = tmp_path / "big.mp4"
    big.write_bytes(b"b" * 6_000_000)
    token = yandex.token_for("ann")
    async with _disk(yandex, token) as disk:
        await disk.make_folders("disk:/A")
        with pytest.raises(YandexDiskFull) as full:
            await disk.upload("disk:/A/big.mp4", big)
        yandex.revoke("ann")
        with pytest.raises(YandexAuthError):
            await disk.resource("disk:/A")
    assert full.value.status == 507 and not full.value.too_large
    assert yandex.accounts["ann"].files == {}


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("disk:/Lectures/one.mp4", "disk:/Lectures/one.mp4"),
        (
            "https://disk.yandex.ru/client/disk/Lectures/%D0%9B%D0%B5%D0%BA.mp4",
            "disk:/Lectures/Лек.mp4",
        ),
        ("https://disk.yandex.com/client/disk/Lectures", "disk:/Lectures"),
        (
            "https://disk.yandex.ru/client/disk/Lectures?idApp=client&dialog=slider"
            "&idDialog=%2Fdisk%2FLectures%2Fone.mp4",
            "disk:/Lectures/one.mp4",
        ),
        ("https://disk.yandex.ru/d/AbCdEf123", None),
        ("https://yadi.sk/i/AbCdEf123", None),
        ("https://disk.yandex.ru.evil.com/client/disk/a", None),
        ("disk:/a/../../etc", None),
    ],
)
def test_private_links_name_disk_paths_and_public_ones_do_not(text: str, path: str | None) -> None:
    assert disk_path(text) == path


def test_names_made_from_titles_stay_one_segment() -> None:
    assert safe_name("Physics 1/2: waves?", "x") == "Physics 1 2 waves"
    assert safe_name(" ../ ", "lecture-5") == "lecture-5"
