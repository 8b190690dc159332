"""The Drive client against the fake Drive: links, Range chunks, resuming, renewing, revoking."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from integrations import google_oauth
from integrations.google_drive import DriveClient, DriveError, DriveFile, file_id
from tests.fakes.drive import FakeDrive

DRIVE = {google_oauth.YOUTUBE_FORCE_SSL, google_oauth.DRIVE_READONLY}
DATA = os.urandom(300_000)


@pytest.fixture
async def drive() -> AsyncIterator[FakeDrive]:
    async with FakeDrive() as fake:
        yield fake


def _client(drive: FakeDrive, tokens: dict[str, str], renewed: list[str]) -> DriveClient:
    async def renew() -> str:
        fresh = await google_oauth.refresh(
            tokens["refresh_token"],
            client_id=drive.client_id,
            client_secret=drive.client_secret,
            token_url=drive.token_url,
        )
        renewed.append(fresh.access_token)
        return fresh.access_token

    return DriveClient(tokens["access_token"], renew, api_url=drive.api_url)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://drive.google.com/file/d/1AbCdEfGhIjKlMnOp_-q/view?usp=sharing",
            "1AbCdEfGhIjKlMnOp_-q",
        ),
        ("https://drive.google.com/open?id=1AbCdEfGhIjKlMnOp_-q", "1AbCdEfGhIjKlMnOp_-q"),
        (
            "https://drive.google.com/uc?id=1AbCdEfGhIjKlMnOp_-q&export=download",
            "1AbCdEfGhIjKlMnOp_-q",
        ),
        ("https://docs.google.com/file/d/1AbCdEfGhIjKlMnOp_-q/edit", "1AbCdEfGhIjKlMnOp_-q"),
        ("https://drive.google.com/drive/folders/1AbCdEfGhIjKlMnOp_-q", None),
        ("https://example.com/file/d/1AbCdEfGhIjKlMnOp_-q/view", None),
        ("https://drive.google.com/file/d/short/view", None),
    ],
)
def test_drive_file_links_are_recognised(url: str, expected: str | None) -> None:
    assert file_id(url) == expected


async def test_download_comes_in_range_chunks(drive: FakeDrive, tmp_path: Path) -> None:
    entry = drive.add_file(DATA, "Lecture 3.mp4")
    client = _client(drive, drive.issue_tokens(DRIVE), [])
    seen: list[tuple[int, int | None]] = []

    async def progress(done: int, total: int | None) -> None:
        seen.append((done, total))

    async with client:
        meta = await client.metadata(entry.id)
        assert meta == DriveFile(entry.id, "Lecture 3.mp4", len(DATA), "video/mp4")
        assert meta.is_media
        part = await client.download(
            meta, tmp_path / "s.part", on_progress=progress, chunk_size=128 * 1024
        )
    assert part.read_bytes() == DATA
    assert drive.ranges == ["bytes=0-131071", "bytes=131072-262143", "bytes=262144-299999"]
    assert seen[-1] == (len(DATA), len(DATA))


async def test_a_broken_download_goes_on_from_the_bytes_on_disk(
    drive: FakeDrive, tmp_path: Path
) -> None:
    entry = drive.add_file(DATA)
    client = _client(drive, drive.issue_tokens(DRIVE), [])
    drive.cut_media(after=50_000)
    part = tmp_path / "s.part"
    async with client:
        meta = await client.metadata(entry.id)
        with pytest.raises(DriveError) as failed:
            await client.download(meta, part, chunk_size=128 * 1024)
        assert failed.value.code == "drive_unreachable" and failed.value.transient
        kept = part.stat().st_size
        assert 0 < kept <= 50_000
        await client.download(meta, part, chunk_size=128 * 1024)
    assert part.read_bytes() == DATA
    assert drive.ranges[1] == f"bytes={kept}-{kept + 128 * 1024 - 1}"


async def test_an_expired_access_token_is_renewed_once(drive: FakeDrive, tmp_path: Path) -> None:
    entry = drive.add_file(DATA)
    renewed: list[str] = []
    client = _client(drive, drive.issue_tokens(DRIVE), renewed)
    drive.expire_access_tokens()
    async with client:
        meta = await client.metadata(entry.id)
        await client.download(meta, tmp_path / "s.part")
    assert len(renewed) == 1
    assert drive.token_grants == ["refresh_token"]


async def test_a_revoked_grant_says_so(drive: FakeDrive) -> None:
    entry = drive.add_file(DATA)
    tokens = drive.issue_tokens(DRIVE)
    drive.revoke(tokens["refresh_token"])
    async with _client(drive, tokens, []) as client:
        with pytest.raises(DriveError) as failed:
            await client.metadata(entry.id)
    assert failed.value.code == "drive_revoked" and not failed.value.transient


async def test_youtube_access_alone_cannot_read_drive(drive: FakeDrive) -> None:
    entry = drive.add_file(DATA)
    async with _client(drive, drive.issue_tokens(), []) as client:
        with pytest.raises(DriveError) as failed:
            await client.metadata(entry.id)
    assert failed.value.code == "drive_scope"


async def test_a_file_the_account_cannot_see_is_not_found(drive: FakeDrive) -> None:
    async with _client(drive, drive.issue_tokens(DRIVE), []) as client:
        with pytest.raises(DriveError) as failed:
            await client.metadata("1NoSuchFileAnywhere000")
    assert failed.value.code == "drive_not_found"
