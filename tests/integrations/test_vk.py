"""VkVideo through the real vk_api and requests against the fake VK server."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from integrations.vk import VkAuthError, VkError, VkUploaded, VkVideo
from tests.fakes.vk import FakeVk

USER = 7
GROUP = 42

DESCRIPTION = (
    "Лекция о пределах последовательностей.\n"
    "\n"
    "00:00 Введение\n"
    "04:12 Определение предела\n"
    "17:45 Теорема о двух милиционерах\n"
    "31:08 Вопросы"
)


@pytest.fixture
async def vk() -> AsyncIterator[FakeVk]:
    async with FakeVk() as fake:
        fake.add_user(USER, "Ann")
        fake.add_group(GROUP, "Матанализ, 1 курс", admins={USER})
        fake.add_group(43, "Someone else's club")
        yield fake


@pytest.fixture
def video_file(tmp_path: Path) -> Path:
    # Random bytes are enough: VK's upload server stores what it is given. Big enough to
    # span several progress steps.
    path = tmp_path / "video.mp4"
    path.write_bytes(os.urandom(2 * 1024 * 1024 + 12345))
    return path


def client(fake: FakeVk, token: str) -> VkVideo:
    return VkVideo(
        token,
        api_url=fake.api_url,
        api_version="5.199",
        retry_delays=(0, 0, 0),
        upload_retry_delays=(0, 0),
        rps_delay=0,
    )


async def test_upload_to_a_community_album_arrives_whole(vk: FakeVk, video_file: Path) -> None:
    video = client(vk, vk.user_token(USER))
    progress: list[tuple[int, int | None]] = []

    async def on_progress(done: int, total: int | None) -> None:
        progress.append((done, total))

    uploaded = await video.upload_async(
        video_file,
        title="Лекция 3: пределы",
        description=DESCRIPTION,
        group_id=GROUP,
        album_id=5,
        on_progress=on_progress,
    )

    [saved] = vk.videos
    assert uploaded == VkUploaded(
        -GROUP, saved.video_id, f"https://vk.com/video-42_{saved.video_id}"
    )
    assert saved.title == "Лекция 3: пределы"
    assert saved.description == DESCRIPTION
    assert (saved.owner_id, saved.group_id, saved.album_id) == (-GROUP, GROUP, 5)
    assert saved.data == video_file.read_bytes()
    assert saved.uploads == 1
    # Privacy applies to profile videos only; a community's own settings govern its videos.
    assert saved.privacy_view is None
    [save_call] = [call for call in vk.calls if call.method == "video.save"]
    assert save_call.params["v"] == "5.199"
    assert save_call.caller == ("user", USER)

    size = video_file.stat().st_size
    assert progress[-1] == (size, size)
    assert [done for done, _ in progress] == sorted(done for done, _ in progress)

    info = await video.find_video_async(uploaded.owner_id, uploaded.video_id)
    assert info is not None
    assert (info.title, info.processing) == ("Лекция 3: пределы", False)


async def test_blocking_upload_to_the_profile_sends_privacy(vk: FakeVk, video_file: Path) -> None:
    video = client(vk, vk.user_token(USER))
    seen: list[int] = []

    uploaded = await asyncio.to_thread(
        lambda: video.upload(
            video_file,
            title="Open lecture",
            description="",
            group_id=None,
            album_id=None,
            privacy_view="friends",
            on_progress=lambda done, total: seen.append(done),
        )
    )

    [saved] = vk.videos
    assert (uploaded.owner_id, saved.group_id, saved.privacy_view) == (USER, None, "friends")
    assert uploaded.url == f"https://vk.com/video{USER}_{saved.video_id}"
    assert seen[-1] == video_file.stat().st_size


async def test_save_first_then_send_the_file(vk: FakeVk, video_file: Path) -> None:
    video = client(vk, vk.user_token(USER))

    target = await video.save_async(title="Recorded first", description="d", group_id=GROUP)
    waiting = await video.find_video_async(target.owner_id, target.video_id)
    await video.send_file_async(target, video_file)
    done = await video.find_video_async(target.owner_id, target.video_id)

    assert waiting is not None and waiting.processing
    assert done is not None and not done.processing
    assert vk.videos[0].data == video_file.read_bytes()
    assert await video.find_video_async(target.owner_id, target.video_id + 1000) is None


async def test_too_many_requests_is_retried_until_vk_answers(vk: FakeVk, video_file: Path) -> None:
    vk.fail("video.save", code=6, times=2)
    video = client(vk, vk.user_token(USER))

    uploaded = await video.upload_async(video_file, title="t", description="d", group_id=GROUP)

    assert [c.error for c in vk.calls if c.method == "video.save"] == [6, 6, None]
    assert [v.video_id for v in vk.videos] == [uploaded.video_id]


async def test_flood_control_and_vk_faults_are_retried(vk: FakeVk) -> None:
    vk.fail("groups.getById", code=9)
    vk.fail("groups.getById", code=10)

    name = await client(vk, vk.user_token(USER)).group_name_async(GROUP)

    assert name == "Матанализ, 1 курс"
    assert [c.error for c in vk.calls] == [9, 10, None]


async def test_a_rate_limit_that_does_not_lift_is_reported_as_retryable(vk: FakeVk) -> None:
    vk.fail("groups.getById", code=6, times=10)

    with pytest.raises(VkError) as caught:
        await client(vk, vk.user_token(USER)).group_name_async(GROUP)

    assert caught.value.code == 6
    assert caught.value.retryable
    assert len(vk.calls) == 4  # the first try and three retries


@pytest.mark.parametrize("how", ["revoked", "expired"])
async def test_a_rejected_token_asks_to_reconnect(vk: FakeVk, video_file: Path, how: str) -> None:
    token = vk.user_token(USER)
    if how == "revoked":
        vk.revoke(token)
    else:
        vk.expire(token)

    with pytest.raises(VkAuthError) as caught:
        await client(vk, token).upload_async(video_file, title="t", description="d")

    assert caught.value.code == 5
    assert "authorization failed" in str(caught.value)
    assert len(vk.calls) == 1  # not retried
    assert vk.videos == []


async def test_other_errors_carry_vk_code_and_message(vk: FakeVk, video_file: Path) -> None:
    video = client(vk, vk.user_token(USER))

    with pytest.raises(VkError) as caught:
        await video.upload_async(video_file, title="t", description="d", group_id=43)

    assert not isinstance(caught.value, VkAuthError)
    assert caught.value.code == 15
    assert not caught.value.retryable
    assert str(caught.value) == (
        "VK error 15: Access denied: you can't add videos to this community"
    )


async def test_a_community_token_cannot_save_videos(vk: FakeVk, video_file: Path) -> None:
    video = client(vk, vk.community_token(GROUP))

    with pytest.raises(VkError) as caught:
        await video.upload_async(video_file, title="t", description="d", group_id=GROUP)

    assert caught.value.code == 27
    assert await video.group_name_async(GROUP) == "Матанализ, 1 курс"


async def test_upload_server_failing_once_is_retried_on_the_same_video(
    vk: FakeVk, video_file: Path
) -> None:
    vk.fail_upload(times=1, status=500)
    progress: list[int] = []

    async def on_progress(done: int, total: int | None) -> None:
        progress.append(done)

    uploaded = await client(vk, vk.user_token(USER)).upload_async(
        video_file, title="t", description="d", group_id=GROUP, on_progress=on_progress
    )

    [saved] = vk.videos
    assert saved.video_id == uploaded.video_id
    assert saved.data == video_file.read_bytes()
    assert len([c for c in vk.calls if c.method == "video.save"]) == 1
    assert progress[-1] == video_file.stat().st_size


async def test_upload_server_failing_for_good_is_a_retryable_error(
    vk: FakeVk, video_file: Path
) -> None:
    vk.fail_upload(times=5, status=503)

    with pytest.raises(VkError) as caught:
        await client(vk, vk.user_token(USER)).upload_async(video_file, title="t", description="d")

    assert caught.value.retryable
    assert "503" in str(caught.value)
    assert vk.videos[0].data is None
    assert len([c for c in vk.calls if c.method == "video.save"]) == 1


async def test_a_broken_progress_display_does_not_stop_the_upload(
    vk: FakeVk, video_file: Path
) -> None:
    async def on_progress(done: int, total: int | None) -> None:
        raise RuntimeError("message to edit is gone")

    uploaded = await client(vk, vk.user_token(USER)).upload_async(
        video_file, title="t", description="d", on_progress=on_progress
    )

    assert uploaded.video_id == vk.videos[0].video_id
    assert vk.videos[0].data == video_file.read_bytes()


async def test_tokens_never_reach_the_logs(
    vk: FakeVk, video_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = vk.user_token(USER)
    dead = vk.user_token(USER)
    vk.revoke(dead)
    vk.fail("video.save", code=6)
    vk.fail_upload(times=1)
    video = client(vk, token)

    await video.upload_async(video_file, title="t", description="d", group_id=GROUP)
    with pytest.raises(VkAuthError) as caught:
        await client(vk, dead).group_name_async(GROUP)

    assert "video.save" in caplog.text  # the retry was logged, so logging was on
    for secret in (token, dead):
        assert secret not in caplog.text
        assert secret not in repr(video)
        assert secret not in str(caught.value)
