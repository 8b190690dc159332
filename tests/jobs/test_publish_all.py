"""Several platforms at once: one links message, partial failures, secrets kept, recovery."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from redis.asyncio import Redis

from leap.app import serve
from storage.models import PublicationStatus, RecordingStatus
from tests.conftest import running
from tests.jobs.conftest import CHANNEL, VK_GROUP, World

EVERYWHERE = ["youtube", "vk", "telegram", "export"]


async def test_one_links_message_once_every_platform_is_done(world: World) -> None:
    await world.connect_youtube()
    await world.connect_vk()
    await world.connect_channel()

    async with running(world.settings, world.telegram):
        assert await world.publish(EVERYWHERE) == EVERYWHERE
        links = await world.links_message()
        progress = world.telegram.message(world.chat["id"], world.progress_message_id)
        final = [
            "✅ YouTube: published",
            "✅ VK: published",
            "✅ Telegram channel: published",
            "✅ Archive: published",
        ]
        await world.telegram.wait_for(lambda: (progress.content or "").splitlines()[-4:] == final)
        # Asking again changes nothing: every platform is done.
        assert await world.publish(EVERYWHERE) == []

    [video] = world.google.videos.values()
    [saved] = world.vk.videos
    [post] = world.telegram.sent(CHANNEL)
    assert links.content.splitlines() == [
        "📺 <b>Signals, lecture 3: sampling</b> is published:",
        f"✅ YouTube: https://youtu.be/{video.id}",
        f"✅ VK: https://vk.com/video-{VK_GROUP}_{saved.video_id}",
        f"✅ Telegram channel: https://t.me/lectures_channel/{post.message_id}",
        "✅ Archive: the archive is in the chat above",
    ]
    assert world.links_messages() == [links]
    assert (await world.recording()).status == RecordingStatus.READY.value
    assert {p: r.status for p, r in (await world.publications()).items()} == dict.fromkeys(
        EVERYWHERE, PublicationStatus.DONE.value
    )
    requested = [e for e in await world.audit() if e.action == "publish_requested"]
    assert [e.details["platforms"] for e in requested] == [EVERYWHERE]


async def test_a_failed_platform_is_listed_while_the_others_finish(world: World) -> None:
    await world.connect_youtube()
    # No Telegram channel is connected.

    async with running(world.settings, world.telegram):
        await world.publish(["youtube", "telegram", "export"])
        links = await world.links_message()

    [video] = world.google.videos.values()
    lines = links.content.splitlines()
    assert lines[0].startswith("📺")
    assert f"✅ YouTube: https://youtu.be/{video.id}" in lines
    assert "✅ Archive: the archive is in the chat above" in lines
    assert lines[-1] == (
        "❌ Telegram channel: Telegram channel is not connected. "
        "Connect it with /connect, then publish again."
    )
    assert world.links_messages() == [links]
    assert (await world.recording()).status == RecordingStatus.READY.value
    assert (await world.publications())["telegram"].status == PublicationStatus.FAILED.value

    # Each outcome is in the workspace's log, under whoever asked for the publication.
    outcomes = {
        e.details["platforms"][0]: e
        for e in await world.audit()
        if e.action in ("published", "publish_failed")
    }
    assert {p: e.action for p, e in outcomes.items()} == {
        "youtube": "published",
        "telegram": "publish_failed",
        "export": "published",
    }
    assert {e.user_id for e in outcomes.values()} == {world.user["id"]}
    assert {e.target for e in outcomes.values()} == {f"recording:{world.recording_id}"}
    assert outcomes["youtube"].details["url"] == f"https://youtu.be/{video.id}"
    assert outcomes["export"].details["url"] is None  # the archive went into the chat
    assert "is not connected" in outcomes["telegram"].details["error"]


async def test_tokens_are_encrypted_at_rest_and_never_logged(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    google_tokens = await world.connect_youtube()
    vk_tokens = await world.connect_vk(expires_in=60)  # refreshed during the upload
    world.google.expire_access_tokens()  # Google's refresh happens during the upload too

    async with running(world.settings, world.telegram):
        await world.publish(["youtube", "vk"])
        await world.links_message()

    [credential_youtube, credential_vk] = sorted(
        await world.credentials(), key=lambda c: c.provider
    )
    new_google = world.box.decrypt(credential_youtube.payload)
    new_vk = world.box.decrypt(credential_vk.payload)
    assert new_google["access_token"] != google_tokens["access_token"]
    assert new_vk["refresh_token"] != vk_tokens["refresh_token"]
    secrets = {
        *google_tokens.values(),
        new_google["access_token"],
        vk_tokens["access_token"],
        vk_tokens["refresh_token"],
        new_vk["access_token"],
        new_vk["refresh_token"],
    }
    database = Path(world.settings.database_url.split("///", 1)[1])
    stored = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    for secret in secrets:
        assert secret.encode() not in stored
        assert secret not in logged
    assert "video.save" in logged  # the log was really captured at DEBUG


async def test_lost_publication_jobs_are_queued_again(world: World) -> None:
    await world.connect_channel()

    # Only the bot runs: the publication is recorded and queued, but nobody works on it.
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve(world.settings, queues=(), stop=stop, ready=ready))
    await asyncio.wait_for(ready.wait(), 20)
    await world.publish(["telegram"])
    stop.set()
    await asyncio.wait_for(task, 20)

    redis = Redis.from_url(world.settings.redis_url)
    assert await redis.exists(f"arq:job:rec:{world.recording_id}:publish:telegram")
    await redis.flushdb()
    await redis.aclose()

    async with running(world.settings, world.telegram):
        links = await world.links_message()

    [post] = world.telegram.sent(CHANNEL)
    assert f"https://t.me/lectures_channel/{post.message_id}" in links.content
