"""Posting the video to a Telegram channel through the bot."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramNetworkError

from integrations.telegram_channel import caption
from jobs.publish import PlatformRefused
from jobs.publish.sending import _never_sent
from pipeline.timecodes import Chapter
from storage import repo
from storage.models import PublicationStatus, RecordingStatus
from tests.conftest import _free_port, running
from tests.jobs.conftest import CHANNEL, World
from tests.jobs.test_publish_youtube import _job_cancelled


async def test_video_is_posted_with_the_chapters_in_the_caption(world: World) -> None:
    await world.connect_channel()

    async with running(world.settings, world.telegram):
        assert await world.publish(["telegram"]) == ["telegram"]
        links = await world.links_message()

    [post] = world.telegram.sent(CHANNEL)
    assert post.video is not None
    assert post.video.data == (world.folder / "video.mp4").read_bytes()
    assert post.media_meta["duration"] == 6
    assert post.caption.startswith("<b>Signals, lecture 3: sampling</b>")
    assert "0:00 Introduction\n0:02 Sampling a signal\n0:04 Aliasing" in post.caption
    assert f"https://t.me/lectures_channel/{post.message_id}" in links.content
    publication = (await world.publications())["telegram"]
    assert publication.status == PublicationStatus.DONE.value
    assert publication.remote_id == str(post.message_id)


@pytest.fixture(scope="module")
def podcast(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three seconds of sound in an MP4 without a picture, as trim leaves a voice message."""
    path = tmp_path_factory.mktemp("podcast") / "podcast.m4a"
    subprocess.run(
        [
            "ffmpeg", "-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i", "sine=f=300:d=3",
            "-c:a", "aac", "-f", "mp4", str(path),
        ],
        check=True,
    )  # fmt: skip
    return path


async def test_sound_only_goes_to_the_channel_as_audio_and_never_to_youtube_or_vk(
    world: World, podcast: Path
) -> None:
    await world.connect_channel()
    await world.connect_youtube()
    (world.folder / "video.mp4").write_bytes(podcast.read_bytes())
    (world.folder / "thumbnail.jpg").unlink()
    await sound_only(world)

    # The rule holds whoever asks (a forged button, the command line): nothing is written.
    for refused in (["youtube"], ["telegram", "vk"]):
        with pytest.raises(PlatformRefused) as raised:
            await world.publish(refused)
        assert raised.value.platforms == [p for p in refused if p != "telegram"]
    assert await world.publications() == {}
    assert (await world.recording()).status == RecordingStatus.AWAITING_REVIEW.value

    async with running(world.settings, world.telegram):
        assert await world.publish(["telegram"]) == ["telegram"]
        links = await world.links_message()

    [post] = world.telegram.sent(CHANNEL)
    assert post.video is None and post.audio is not None
    assert post.audio.data == podcast.read_bytes()
    assert post.audio.file_name == "Signals, lecture 3 sampling.m4a"
    assert post.media_meta["title"] == "Signals, lecture 3: sampling"
    assert post.caption.startswith("<b>Signals, lecture 3: sampling</b>")
    assert f"https://t.me/lectures_channel/{post.message_id}" in links.content
    assert world.google.videos == {}


async def sound_only(world: World) -> None:
    """The recording as fetch describes a file without a picture."""

    async def update(session: Any) -> None:
        recording = await repo.get_recording(session, world.workspace_id, world.recording_id)
        assert recording is not None
        source = {"duration": 3.0, "has_video": False, "has_audio": True}
        recording.media = {**recording.media, "source": source}

    await world._session_call(update)


async def test_bot_that_is_no_longer_admin_gets_a_clear_reason(world: World) -> None:
    await world.connect_channel()
    world.telegram.set_admins(CHANNEL, [], bot_is_admin=False)

    async with running(world.settings, world.telegram):
        await world.publish(["telegram"])
        links = await world.links_message()

    assert world.telegram.sent(CHANNEL) == []
    assert "❌ Telegram channel: I can't post to the channel any more" in links.content
    assert (await world.publications())["telegram"].status == PublicationStatus.FAILED.value


async def test_video_over_the_upload_limit_is_explained(world: World) -> None:
    await world.connect_channel()
    small = world.settings.model_copy(update={"cloud_upload_limit_mb": 1})

    async with running(small, world.telegram):
        await world.publish(["telegram"])
        links = await world.links_message()

    assert world.telegram.sent(CHANNEL) == []
    assert "Telegram lets bots post at most 1 MB" in links.content
    assert "local Bot API server" in links.content


def test_caption_keeps_whole_chapter_lines_within_telegrams_limit() -> None:
    chapters = [Chapter(start=60.0 * i, title=f"Topic number {i} & more") for i in range(200)]

    text = caption("Linear algebra <3>", chapters)

    plain = text.replace("<b>", "").replace("</b>", "").replace("&amp;", "&")
    plain = plain.replace("&lt;", "<").replace("&gt;", ">")
    assert len(plain.encode("utf-16-le")) // 2 <= 1024
    assert plain.startswith("Linear algebra <3>\n\n0:00 Topic number 0 & more\n1:00 Topic")
    assert plain.endswith("\n…")
    lines = plain.split("\n")[2:-1]
    assert all(line.endswith("& more") for line in lines)
    assert caption("Short", chapters[:3]).endswith("2:00 Topic number 2 &amp; more")


async def test_a_post_whose_answer_was_lost_is_not_posted_again(world: World) -> None:
    await world.connect_channel()
    # The video reaches the channel, and the answer comes back as a 502.
    world.telegram.fail_after("sendVideo", error_code=502)

    async with running(world.settings, world.telegram):
        assert await world.publish(["telegram"]) == ["telegram"]
        links = await world.links_message()

    [post] = world.telegram.sent(CHANNEL)
    assert post.video is not None
    publication = (await world.publications())["telegram"]
    assert publication.status == PublicationStatus.FAILED.value
    assert publication.error is not None and "may already be in the channel" in publication.error
    assert "❌ Telegram channel: " in links.content
    assert "check the channel" in links.content

    # The person looked, found nothing they want to keep, and asks again: now it is posted.
    async with running(world.settings, world.telegram):
        assert await world.publish(["telegram"]) == ["telegram"]
        await world.telegram.wait_for(lambda: len(world.links_messages()) == 2)
    assert len(world.telegram.sent(CHANNEL)) == 2
    publication = (await world.publications())["telegram"]
    assert publication.status == PublicationStatus.DONE.value
    assert publication.remote_id == str(world.telegram.sent(CHANNEL)[-1].message_id)


async def test_a_post_cut_off_by_a_stopped_worker_is_not_posted_again(world: World) -> None:
    await world.connect_channel()
    held = world.telegram.hold("sendVideo")
    stopping = world.settings.model_copy(update={"shutdown_grace": 0.2})

    async with running(stopping, world.telegram) as app:
        await world.publish(["telegram"])
        await held.reached()
        app.stop.set()
        # The worker gives up on the job while the post is on its way: nobody can tell from
        # here whether Telegram kept it.
        await world.telegram.wait_for(_job_cancelled)
        held.release()
    assert (await world.publications())["telegram"].status == PublicationStatus.UPLOADING.value

    async with running(world.settings, world.telegram):
        links = await world.links_message()

    # The job ran again and did not send the video a second time.
    assert len(world.telegram.calls_of("sendVideo")) == 1
    assert len(world.telegram.sent(CHANNEL)) <= 1
    assert "may already be in the channel" in links.content
    assert (await world.publications())["telegram"].status == PublicationStatus.FAILED.value


async def test_only_a_refused_connection_counts_as_nothing_sent() -> None:
    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1 << 20)  # takes the request, never answers
        await asyncio.sleep(5)
        writer.close()

    silent = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    closed = _free_port()
    failures = []
    try:
        for where in (closed, port):
            api = TelegramAPIServer.from_base(f"http://127.0.0.1:{where}")
            bot = Bot("123:TEST", session=AiohttpSession(api=api))
            try:
                with pytest.raises(TelegramNetworkError) as raised:
                    await bot.send_message(1, "hello", request_timeout=1)
                failures.append(raised.value)
            finally:
                await bot.session.close()
    finally:
        silent.close()
        await silent.wait_closed()

    refused, unanswered = failures
    assert _never_sent(refused)
    assert not _never_sent(unanswered)
