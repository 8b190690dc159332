"""The Zoom client against a fake Zoom speaking the real OAuth, listing and download protocol."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from integrations.zoom import (
    Credentials,
    ZoomAuthError,
    ZoomClient,
    ZoomError,
    ZoomFile,
    ZoomRecording,
)
from tests.fakes.zoom import FakeZoom

MB = 1024 * 1024


@pytest.fixture
async def zoom() -> AsyncIterator[FakeZoom]:
    async with FakeZoom() as server:
        yield server


def client_for(zoom: FakeZoom, **overrides: str) -> ZoomClient:
    creds = Credentials(**{**zoom.credentials(), **overrides})
    return ZoomClient(
        creds, api_url=zoom.api_url, oauth_url=zoom.oauth_url, retry_delays=(0.01, 0.01, 0.01)
    )


def days_ago(days: int) -> datetime:
    return datetime.now(UTC).replace(hour=10, minute=0, second=0, microsecond=0) - timedelta(
        days=days
    )


def add_semester(zoom: FakeZoom) -> dict[str, object]:
    """Five meetings over two months: three pages of two across two 30-day windows."""
    algebra_best = zoom.mp4("shared_screen_with_speaker_view", b"a", listed_size=500 * MB)
    algebra = zoom.add_meeting(
        "Linear Algebra 1",
        days_ago(2),
        90,
        [
            zoom.mp4("active_speaker", b"b", listed_size=300 * MB),
            algebra_best,
            zoom.other("M4A", "audio_only"),
            zoom.other("CHAT", "chat_file"),
        ],
    )
    zoom.add_meeting("Office hours", days_ago(5), 10, [zoom.mp4("active_speaker", b"c")])
    physics_best = zoom.mp4("shared_screen", b"d", listed_size=200 * MB)
    physics = zoom.add_meeting(
        "Physics 2",
        days_ago(12),
        60,
        [zoom.mp4("active_speaker", b"e", listed_size=600 * MB), physics_best],
    )
    chemistry = zoom.add_meeting(
        "Chemistry", days_ago(35), 45, [zoom.mp4("shared_screen", b"", status="processing")]
    )
    zoom.add_meeting(
        "Tiny", days_ago(40), 50, [zoom.mp4("active_speaker", b"g", listed_size=10 * MB)]
    )
    zoom.add_meeting(
        "Long ago", days_ago(80), 60, [zoom.mp4("active_speaker", b"h", listed_size=90 * MB)]
    )
    return {
        "algebra": algebra,
        "algebra_best": algebra_best,
        "physics": physics,
        "physics_best": physics_best,
        "chemistry": chemistry,
    }


async def test_listing_follows_pages_and_windows_filters_and_picks_the_best_file(
    zoom: FakeZoom,
) -> None:
    world = add_semester(zoom)
    today = datetime.now(UTC).date()
    async with client_for(zoom) as client:
        found = await client.list_recordings(today - timedelta(days=59), today)

    assert [r.topic for r in found] == ["Linear Algebra 1", "Physics 2", "Chemistry"]
    algebra, physics, chemistry = found
    assert algebra.file is not None and algebra.file.id == world["algebra_best"].id  # type: ignore[attr-defined]
    assert algebra.ref == f"zoom:{world['algebra'].uuid}:{algebra.file.id}"  # type: ignore[attr-defined]
    assert algebra.duration == 90 * 60
    assert physics.file is not None and physics.file.id == world["physics_best"].id  # type: ignore[attr-defined]
    assert not algebra.processing and not physics.processing
    assert chemistry.processing
    # Two windows of at most 30 days; the first took two pages.
    assert len(zoom.list_calls) == 3
    assert sum("next_page_token" in call for call in zoom.list_calls) == 1
    spans = {(call.get("from"), call.get("to")) for call in zoom.list_calls if "from" in call}
    assert len(spans) == 2
    # One token served every call.
    assert len(zoom.token_grants) == 1


async def test_thresholds_are_parameters(zoom: FakeZoom) -> None:
    add_semester(zoom)
    today = datetime.now(UTC).date()
    async with client_for(zoom) as client:
        everything = await client.list_recordings(
            today - timedelta(days=59), today, min_duration=0, min_size=0
        )
    assert {r.topic for r in everything} == {
        "Linear Algebra 1",
        "Office hours",
        "Physics 2",
        "Chemistry",
        "Tiny",
    }


async def test_wrong_secret_is_an_auth_error_without_the_secret_in_it(
    zoom: FakeZoom, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "NotTheSecret_0042"
    async with client_for(zoom, client_secret=wrong) as client:
        with pytest.raises(ZoomAuthError) as raised:
            await client.token()
    assert "Invalid client_id or client_secret" in str(raised.value)
    assert wrong not in caplog.text and wrong not in repr(raised.value)
    assert wrong not in repr(client.credentials)


async def test_wrong_account_is_an_auth_error(zoom: FakeZoom) -> None:
    async with client_for(zoom, account_id="SomeoneElse") as client:
        with pytest.raises(ZoomAuthError):
            await client.list_recordings(datetime.now(UTC).date(), datetime.now(UTC).date())


async def test_busy_zoom_is_asked_again(zoom: FakeZoom) -> None:
    add_semester(zoom)
    zoom.fail("token", 503)
    zoom.fail("recordings", 429, times=2)
    today = datetime.now(UTC).date()
    async with client_for(zoom) as client:
        found = await client.list_recordings(today - timedelta(days=20), today)
    assert [r.topic for r in found] == ["Linear Algebra 1", "Physics 2"]


async def test_zoom_down_for_good_is_a_retryable_error(zoom: FakeZoom) -> None:
    zoom.fail("recordings", 500, times=10)
    today = datetime.now(UTC).date()
    async with client_for(zoom) as client:
        with pytest.raises(ZoomError) as raised:
            await client.list_recordings(today, today)
    assert raised.value.retryable


async def test_an_expired_token_is_renewed(zoom: FakeZoom) -> None:
    add_semester(zoom)
    today = datetime.now(UTC).date()
    async with client_for(zoom) as client:
        await client.list_recordings(today - timedelta(days=3), today)
        zoom.expire_tokens()
        found = await client.list_recordings(today - timedelta(days=3), today)
    assert [r.topic for r in found] == ["Linear Algebra 1"]
    assert len(zoom.token_grants) == 2


def _file(zoom: FakeZoom, content: bytes, **kwargs: object) -> tuple[ZoomFile, ZoomRecording]:
    item = zoom.mp4("shared_screen", content, **kwargs)  # type: ignore[arg-type]
    zoom.add_meeting("Lecture", days_ago(1), 60, [item])
    recording = ZoomRecording.from_options(
        {
            "file_id": item.id,
            "download_url": zoom.file_url(item),
            "file_size": item.size,
            "meeting_uuid": "u",
        }
    )
    assert recording.file is not None
    return recording.file, recording


async def test_download_resumes_after_the_connection_drops(zoom: FakeZoom, tmp_path: Path) -> None:
    content = os.urandom(3 * MB + 123)
    file, _ = _file(zoom, content, drop_at=MB + 7)
    dest = tmp_path / "source.mp4.part"
    seen: list[tuple[int, int | None]] = []

    async def progress(done: int, total: int | None) -> None:
        seen.append((done, total))

    async with client_for(zoom) as client:
        await client.download(file, dest, on_progress=progress)

    assert dest.read_bytes() == content
    first, second = zoom.downloads
    assert first.range is None
    # The second request asks only for what the first did not bring.
    assert second.range is not None and 0 < int(second.range[6:-1]) <= MB + 7
    assert seen[-1] == (len(content), len(content))


async def test_a_partial_file_continues_where_it_stopped(zoom: FakeZoom, tmp_path: Path) -> None:
    content = os.urandom(2 * MB)
    file, _ = _file(zoom, content)
    dest = tmp_path / "source.mp4.part"
    dest.write_bytes(content[:12345])
    async with client_for(zoom) as client:
        await client.download(file, dest, token=await client.token())
    assert dest.read_bytes() == content
    assert [d.range for d in zoom.downloads] == ["bytes=12345-"]


async def test_an_html_page_is_not_saved_as_a_video(zoom: FakeZoom, tmp_path: Path) -> None:
    file, _ = _file(zoom, b"\x00" * 1000, html=True)
    async with client_for(zoom) as client:
        with pytest.raises(ZoomError) as raised:
            await client.download(file, tmp_path / "source.mp4.part")
    assert "web page" in str(raised.value)
    assert not raised.value.retryable


async def test_a_size_other_than_listed_is_refused(zoom: FakeZoom, tmp_path: Path) -> None:
    file, _ = _file(zoom, b"\x01" * 5000, listed_size=4000)
    async with client_for(zoom) as client:
        with pytest.raises(ZoomError) as raised:
            await client.download(file, tmp_path / "source.mp4.part")
    assert "5000" in str(raised.value) and "4000" in str(raised.value)


async def test_a_deleted_recording_says_so(zoom: FakeZoom, tmp_path: Path) -> None:
    file, _ = _file(zoom, b"\x01" * 100)
    zoom.meetings.clear()
    async with client_for(zoom) as client:
        with pytest.raises(ZoomError) as raised:
            await client.download(file, tmp_path / "source.mp4.part")
    assert raised.value.status == 404
    assert "does not exist" in str(raised.value)
