"""The YouTube client: the real google-api-python-client against the fake Google."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from integrations.google_oauth import Tokens
from integrations.youtube import (
    UPLOAD_GRANULARITY,
    AsyncYouTube,
    QuotaExceeded,
    UploadSessionExpired,
    YouTube,
    YouTubeAuthError,
    YouTubeError,
    YouTubeTransient,
    next_quota_reset,
)
from tests.fakes.google import FakeGoogle

ROOT = Path(__file__).resolve().parents[2]
CHUNK = 2 * UPLOAD_GRANULARITY
METADATA: dict[str, Any] = {
    "title": "Linear algebra, lecture 3: eigenvalues",
    "description": "0:00 Intro\n4:10 Characteristic polynomial\n12:30 Diagonalisation",
    "tags": ["linear algebra", "eigenvalues"],
    "categoryId": "27",
    "defaultLanguage": "en",
    "privacyStatus": "unlisted",
    "selfDeclaredMadeForKids": False,
}

Factory = Callable[..., AsyncYouTube]


@pytest.fixture
async def google() -> AsyncIterator[FakeGoogle]:
    async with FakeGoogle() as fake:
        yield fake


@pytest.fixture
def connect(google: FakeGoogle) -> Factory:
    """A client for a fresh grant (or for `tokens`), as the publish job would build it."""

    def make(tokens: dict[str, str] | None = None, **kwargs: Any) -> AsyncYouTube:
        tokens = tokens or google.issue_tokens()
        options: dict[str, Any] = {"retry_delay": 0.0, "max_retries": 3, **kwargs}
        client = YouTube(
            access_token=tokens["access_token"],
            refresh_token=tokens["refresh_token"],
            client_id=google.client_id,
            client_secret=google.client_secret,
            token_url=google.token_url,
            api_url=google.api_url,
            **options,
        )
        return AsyncYouTube(client)

    return make


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three and a bit MB of noise: seven 512 KiB chunks, the last one short."""
    path = tmp_path_factory.mktemp("youtube") / "lecture.mp4"
    path.write_bytes(random.Random(3).randbytes(3 * 1024 * 1024 + 12_345))
    return path


def _one_video(google: FakeGoogle, video: Path) -> str:
    assert len(google.videos) == 1
    (uploaded,) = google.videos.values()
    assert uploaded.data == video.read_bytes()
    return uploaded.id


async def test_channel_title_names_the_connected_channel(
    google: FakeGoogle, connect: Factory
) -> None:
    assert await connect().channel_title() == "Lecture Hall"


async def test_account_without_a_channel_is_told_so() -> None:
    async with FakeGoogle(channel_title=None) as google:
        client = YouTube(
            access_token=google.issue_tokens()["access_token"],
            refresh_token=None,
            client_id=google.client_id,
            client_secret=google.client_secret,
            token_url=google.token_url,
            api_url=google.api_url,
        )
        with pytest.raises(YouTubeError) as caught:
            await AsyncYouTube(client).channel_title()
    assert caught.value.reason == "noChannel"


async def test_resumable_upload_sends_chunks_and_creates_one_video(
    google: FakeGoogle, connect: Factory, video: Path
) -> None:
    client = connect()
    session_uri = await client.start_upload(video, METADATA)
    # The session exists before any byte is sent, so the stage can store its URI first.
    session = google.session(session_uri)
    assert session.total == video.stat().st_size
    assert session.data == b""
    assert google.videos == {}

    progress: list[tuple[int, int]] = []

    async def report(done: int, total: int) -> None:
        progress.append((done, total))

    video_id = await client.upload(video, session_uri, chunk_size=CHUNK, on_progress=report)

    assert _one_video(google, video) == video_id
    total = video.stat().st_size
    assert [(c.start, c.end, c.total) for c in google.chunks] == [
        (start, min(start + CHUNK, total) - 1, total) for start in range(0, total, CHUNK)
    ]
    assert [c.status for c in google.chunks] == [308] * 6 + [200]
    assert progress[-1] == (total, total)
    assert [done for done, _ in progress] == sorted(done for done, _ in progress)

    resource = google.videos[video_id].resource
    assert resource["snippet"]["title"] == METADATA["title"]
    assert resource["snippet"]["description"] == METADATA["description"]
    assert resource["snippet"]["tags"] == METADATA["tags"]
    assert resource["snippet"]["categoryId"] == "27"
    assert resource["snippet"]["defaultLanguage"] == "en"
    assert resource["status"]["privacyStatus"] == "unlisted"
    assert resource["status"]["selfDeclaredMadeForKids"] is False


async def test_videos_are_private_unless_told(
    google: FakeGoogle, connect: Factory, video: Path
) -> None:
    client = connect()
    uri = await client.start_upload(video, {"title": "Draft"})
    video_id = await client.upload(video, uri, chunk_size=8 * CHUNK)
    resource = google.videos[video_id].resource
    assert resource["status"]["privacyStatus"] == "private"
    assert resource["snippet"]["categoryId"] == "27"


async def test_503_mid_upload_is_retried_from_what_google_kept(
    google: FakeGoogle, connect: Factory, video: Path
) -> None:
    # The third chunk fails after Google stored its first 1000 bytes.
    google.fail("upload", 503, skip=2, commit=1000)
    client = connect()
    uri = await client.start_upload(video, METADATA)
    video_id = await client.upload(video, uri, chunk_size=CHUNK)

    assert _one_video(google, video) == video_id
    failed = [i for i, chunk in enumerate(google.chunks) if chunk.status == 503]
    assert failed == [2]
    # After the failure the client asked, and went on from the byte Google reported.
    assert google.chunks[3].start == 2 * CHUNK + 1000


async def test_dropped_connections_mid_upload_are_retried(
    google: FakeGoogle, connect: Factory, video: Path
) -> None:
    google.fail("upload", drop=True, skip=1, times=3)
    client = connect()
    uri = await client.start_upload(video, METADATA)
    video_id = await client.upload(video, uri, chunk_size=CHUNK)
    assert _one_video(google, video) == video_id
    assert [chunk.status for chunk in google.chunks].count(0) == 3


async def test_upload_gives_up_after_a_few_tries(
    google: FakeGoogle, connect: Factory, video: Path
) -> None:
    google.fail("upload", 500, skip=1, times=100)
    client = connect(max_retries=2)
    uri = await client.start_upload(video, METADATA)
    with pytest.raises(YouTubeTransient) as caught:
        await client.upload(video, uri, chunk_size=CHUNK)
    assert caught.value.status == 500
    assert [chunk.status for chunk in google.chunks] == [308, 500, 500, 500]
    assert google.videos == {}


class WorkerKilled(Exception):
    pass


async def test_worker_killed_after_some_chunks_resumes_from_the_stored_session(
    google: FakeGoogle, connect: Factory, video: Path
) -> None:
    tokens = google.issue_tokens()
    first = connect(tokens)
    stored_uri = await first.start_upload(video, METADATA)

    def die_after_three_chunks(done: int, total: int) -> None:
        if done >= 3 * CHUNK:
            raise WorkerKilled

    with pytest.raises(WorkerKilled):
        await first.upload(video, stored_uri, chunk_size=CHUNK, on_progress=die_after_three_chunks)
    del first
    sent_before = len(google.chunks)
    assert sent_before == 3
    queries_before = google.status_queries

    second = connect(tokens)
    video_id = await second.upload(video, stored_uri, chunk_size=CHUNK)

    assert _one_video(google, video) == video_id
    assert google.status_queries == queries_before + 1
    resumed = google.chunks[sent_before:]
    assert resumed[0].start == 3 * CHUNK
    assert sum(c.end - c.start + 1 for c in google.chunks) == video.stat().st_size


WORKER = """
import sys
from pathlib import Path
from integrations.youtube import YouTube

api_url, token_url, client_id, client_secret, access, refresh, path, uri, chunk = sys.argv[1:]
client = YouTube(
    access_token=access, refresh_token=refresh, client_id=client_id, client_secret=client_secret,
    token_url=token_url, api_url=api_url, retry_delay=0.0,
)
client.upload(Path(path), uri, chunk_size=int(chunk))
"""


async def test_worker_process_killed_mid_chunk_resumes(
    google: FakeGoogle, connect: Factory, video: Path
) -> None:
    tokens = google.issue_tokens()
    stored_uri = await connect(tokens).start_upload(video, METADATA)
    google.hold("upload", skip=2)

    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        WORKER,
        google.api_url,
        google.token_url,
        google.client_id,
        google.client_secret,
        tokens["access_token"],
        tokens["refresh_token"],
        str(video),
        stored_uri,
        str(CHUNK),
        cwd=ROOT,
    )
    try:
        await asyncio.wait_for(google.wait_held(), 60)
    finally:
        worker.kill()
        await worker.wait()
    google.release()
    assert [chunk.status for chunk in google.chunks] == [308, 308]

    video_id = await connect(tokens).upload(video, stored_uri, chunk_size=CHUNK)

    assert _one_video(google, video) == video_id
    assert google.chunks[2].start == 2 * CHUNK


async def test_failed_status_question_is_asked_again(
    google: FakeGoogle, connect: Factory, video: Path
) -> None:
    client = connect()
    uri = await client.start_upload(video, METADATA)
    google.fail("status", 502)
    google.fail("status", 503)
    video_id = await client.upload(video, uri, chunk_size=4 * CHUNK)
    assert _one_video(google, video) == video_id
    assert google.status_queries == 1


async def test_finished_session_answers_with_its_video(
    google: FakeGoogle, connect: Factory, video: Path
) -> None:
    client = connect()
    uri = await client.start_upload(video, METADATA)
    video_id = await client.upload(video, uri, chunk_size=CHUNK)
    chunks = len(google.chunks)

    # A worker that died between the last chunk and saving the id tries again.
    again = await connect().upload(video, uri, chunk_size=CHUNK)

    assert again == video_id
    assert len(google.chunks) == chunks
    assert len(google.videos) == 1
    assert await client.upload_state(uri, video.stat().st_size) == video_id


async def test_expired_session_is_reported(
    google: FakeGoogle, connect: Factory, video: Path
) -> None:
    client = connect()
    uri = await client.start_upload(video, METADATA)
    google.expire_session(uri)
    with pytest.raises(UploadSessionExpired):
        await client.upload(video, uri, chunk_size=CHUNK)


async def test_cancelled_upload_stops_and_resumes_later(
    google: FakeGoogle, connect: Factory, video: Path
) -> None:
    client = connect()
    uri = await client.start_upload(video, METADATA)
    task: asyncio.Task[str] | None = None

    def cancel_after_two_chunks(done: int, total: int) -> None:
        if done >= 2 * CHUNK and task is not None:
            task.cancel()

    task = asyncio.create_task(
        client.upload(video, uri, chunk_size=CHUNK, on_progress=cancel_after_two_chunks)
    )
    with pytest.raises(asyncio.CancelledError):
        await task
    # The thread has finished: nothing arrives any more.
    sent = len(google.chunks)
    await asyncio.sleep(0)
    assert len(google.chunks) == sent < 7
    assert google.videos == {}

    video_id = await client.upload(video, uri, chunk_size=CHUNK)
    assert _one_video(google, video) == video_id


async def test_captions_thumbnail_and_playlist_reach_the_video(
    google: FakeGoogle, connect: Factory, video: Path, tmp_path: Path
) -> None:
    client = connect()
    video_id = await client.upload(
        video, await client.start_upload(video, METADATA), chunk_size=8 * CHUNK
    )
    srt = tmp_path / "subtitles.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:02,500\nЗдравствуйте, коллеги!\n\n", "utf-8")
    jpg = tmp_path / "thumbnail.jpg"
    jpg.write_bytes(b"\xff\xd8\xff\xe0" + random.Random(1).randbytes(40_000) + b"\xff\xd9")
    playlist = google.add_playlist("Linear algebra")

    caption_id = await client.set_captions(video_id, srt, "ru", "Русские субтитры")
    await client.set_thumbnail(video_id, jpg)
    item_id = await client.add_to_playlist(video_id, playlist)

    (caption,) = google.captions
    assert (caption.id, caption.video_id, caption.language, caption.name) == (
        caption_id,
        video_id,
        "ru",
        "Русские субтитры",
    )
    assert caption.content == srt.read_bytes()
    assert not caption.is_draft
    (thumbnail,) = google.thumbnails
    assert (thumbnail.video_id, thumbnail.content_type) == (video_id, "image/jpeg")
    assert thumbnail.content == jpg.read_bytes()
    (item,) = google.playlist_items
    assert (item.id, item.playlist_id, item.video_id) == (item_id, playlist, video_id)


async def test_unknown_playlist_is_a_youtube_error(
    google: FakeGoogle, connect: Factory, video: Path
) -> None:
    client = connect()
    video_id = await client.upload(
        video, await client.start_upload(video, METADATA), chunk_size=8 * CHUNK
    )
    with pytest.raises(YouTubeError) as caught:
        await client.add_to_playlist(video_id, "PLnope")
    assert (caught.value.reason, caught.value.status) == ("playlistNotFound", 404)


async def test_quota_exceeded_says_when_it_resets(
    google: FakeGoogle, connect: Factory, video: Path
) -> None:
    google.fail(
        "videos.insert",
        403,
        reason="quotaExceeded",
        message="The request cannot be completed because you have exceeded your quota.",
    )
    with pytest.raises(QuotaExceeded) as caught:
        await connect().start_upload(video, METADATA)
    assert caught.value.reason == "quotaExceeded"
    assert caught.value.reset_at == next_quota_reset()
    assert datetime.now(UTC) < caught.value.reset_at <= datetime.now(UTC) + timedelta(days=1)
    # Quota is not retried: waiting seconds would not help.
    assert google.requests.count(("POST", "/upload/youtube/v3/videos")) == 1


async def test_upload_limit_is_a_quota_too(google: FakeGoogle, connect: Factory) -> None:
    google.fail("playlistItems", 403, reason="uploadLimitExceeded")
    with pytest.raises(QuotaExceeded):
        await connect().add_to_playlist("v", google.add_playlist("p"))


def test_quota_resets_at_midnight_pacific() -> None:
    summer = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)  # 05:00 PDT
    assert next_quota_reset(summer) == datetime(2026, 7, 2, 7, 0, tzinfo=UTC)
    winter = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)  # 01:00 PST
    assert next_quota_reset(winter) == datetime(2026, 1, 16, 8, 0, tzinfo=UTC)
    late = datetime(2026, 1, 16, 7, 59, tzinfo=UTC)  # 23:59 PST
    assert next_quota_reset(late) == datetime(2026, 1, 16, 8, 0, tzinfo=UTC)


async def test_rate_limits_and_outages_are_retried(google: FakeGoogle, connect: Factory) -> None:
    google.fail("channels", 429, reason="userRateLimitExceeded")
    google.fail("channels", 503)
    assert await connect().channel_title() == "Lecture Hall"
    assert google.requests.count(("GET", "/youtube/v3/channels")) == 3

    google.fail("channels", 503, times=10)
    with pytest.raises(YouTubeTransient) as caught:
        await connect(max_retries=1).channel_title()
    assert caught.value.status == 503


async def test_expired_access_token_is_refreshed_transparently(
    google: FakeGoogle, connect: Factory, video: Path
) -> None:
    client = connect()
    before = client.tokens
    google.expire_access_tokens()
    assert await client.channel_title() == "Lecture Hall"
    assert google.token_grants == ["refresh_token"]
    after = client.tokens
    assert after.access_token != before.access_token
    assert not google.access_tokens[after.access_token].expired
    assert after.refresh_token == before.refresh_token
    assert after.expires_at > datetime.now(UTC) + timedelta(minutes=50)

    # Mid-upload as well: the chunk that met the 401 is sent again with the new token.
    uri = await client.start_upload(video, METADATA)

    def expire_once(done: int, total: int) -> None:
        if done == 2 * CHUNK:
            google.expire_access_tokens()

    video_id = await client.upload(video, uri, chunk_size=CHUNK, on_progress=expire_once)
    assert _one_video(google, video) == video_id
    assert google.token_grants == ["refresh_token", "refresh_token"]


async def test_stored_expiry_refreshes_before_the_call(google: FakeGoogle) -> None:
    issued = google.issue_tokens()
    tokens = Tokens(
        access_token=issued["access_token"],
        refresh_token=issued["refresh_token"],
        expires_at=datetime.now(UTC) - timedelta(minutes=1),
    )
    client = YouTube.from_tokens(
        tokens,
        client_id=google.client_id,
        client_secret=google.client_secret,
        token_url=google.token_url,
        api_url=google.api_url,
    )
    assert await AsyncYouTube(client).channel_title() == "Lecture Hall"
    assert google.token_grants == ["refresh_token"]
    assert ("GET", "/youtube/v3/channels") in google.requests
    assert client.tokens.access_token != issued["access_token"]


async def test_revoked_grant_is_an_auth_error(
    google: FakeGoogle, connect: Factory, video: Path
) -> None:
    tokens = google.issue_tokens()
    client = connect(tokens)
    google.revoke(tokens["refresh_token"])
    with pytest.raises(YouTubeAuthError) as caught:
        await client.channel_title()
    assert caught.value.reason == "invalid_grant"
    with pytest.raises(YouTubeAuthError):
        await client.start_upload(video, METADATA)


async def test_token_without_refresh_gets_401_as_auth_error(google: FakeGoogle) -> None:
    client = YouTube(
        access_token="ya29.not-a-token",
        refresh_token=None,
        client_id=google.client_id,
        client_secret=google.client_secret,
        token_url=google.token_url,
        api_url=google.api_url,
    )
    with pytest.raises(YouTubeAuthError) as caught:
        await AsyncYouTube(client).channel_title()
    assert caught.value.reason == "refreshFailed"


async def test_metadata_youtube_refuses_is_a_youtube_error(
    google: FakeGoogle, connect: Factory, video: Path
) -> None:
    with pytest.raises(YouTubeError) as caught:
        await connect().start_upload(video, {**METADATA, "title": "Vectors <3"})
    assert (caught.value.reason, caught.value.status) == ("invalidTitle", 400)
    assert not isinstance(caught.value, YouTubeTransient)
    with pytest.raises(ValueError, match="privacy"):
        await connect().start_upload(video, {**METADATA, "privacy": "public"})


async def test_upload_scope_alone_cannot_add_captions(
    google: FakeGoogle, connect: Factory, video: Path, tmp_path: Path
) -> None:
    narrow = google.issue_tokens({"https://www.googleapis.com/auth/youtube.upload"})
    client = connect(narrow)
    video_id = await client.upload(
        video, await client.start_upload(video, METADATA), chunk_size=8 * CHUNK
    )
    srt = tmp_path / "s.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:01,000\nHi\n\n")
    with pytest.raises(YouTubeError) as caught:
        await client.set_captions(video_id, srt, "en", "English")
    assert (caught.value.reason, caught.value.status) == ("insufficientPermissions", 403)


def test_chunk_size_must_follow_the_protocol(video: Path) -> None:
    client = YouTube(access_token="a", refresh_token="r", client_id="c", client_secret="s")
    with pytest.raises(ValueError, match="multiple"):
        client.upload(video, "http://127.0.0.1:9/upload", chunk_size=1000)


async def test_tokens_and_client_secret_never_reach_the_logs(
    google: FakeGoogle, connect: Factory, video: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tokens = google.issue_tokens()
    client = connect(tokens)
    google.expire_access_tokens()
    google.fail("upload", 503, skip=1)
    uri = await client.start_upload(video, METADATA)
    await client.upload(video, uri, chunk_size=CHUNK)
    refreshed = client.tokens
    google.revoke(tokens["refresh_token"])
    with pytest.raises(YouTubeAuthError) as caught:
        await client.channel_title()

    assert "upload session opened" in caplog.text
    assert "Refreshing credentials" in caplog.text
    seen = "\n".join(
        [caplog.text, str(caught.value), repr(client), repr(client.client), repr(refreshed)]
    )
    for secret in (
        tokens["access_token"],
        tokens["refresh_token"],
        refreshed.access_token,
        google.client_secret,
    ):
        assert secret not in seen
    assert json.dumps(google.client_secret) not in seen
