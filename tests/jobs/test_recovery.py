"""Nothing is lost when Redis or the workers are: the database knows what is owed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa
from redis.asyncio import Redis

from jobs import recovery
from jobs.publish import run as publish_run
from leap.app import serve
from storage.models import Publication, PublicationStatus, RecordingStatus
from tests.conftest import running
from tests.fakes.telegram import FakeTelegram
from tests.jobs.conftest import World
from tests.jobs.test_retention import run_sql
from tests.jobs.test_zoom_sync import worker_deps


async def test_work_queued_before_redis_was_lost_is_recovered(
    settings, telegram: FakeTelegram, small_video: Path
) -> None:
    user = telegram.user(401, "Ann")
    chat = telegram.private_chat(user)

    # Only the bot runs: the recording is accepted and its fetch queued, but nobody works.

    stop = asyncio.Event()
    ready = asyncio.Event()
    task = asyncio.create_task(serve(settings, queues=(), stop=stop, ready=ready))
    await asyncio.wait_for(ready.wait(), 20)
    await telegram.send_document(chat, user, small_video, file_name="a.mp4", mime_type="video/mp4")
    progress = await telegram.wait_for_message(401, after=0)
    stop.set()
    await asyncio.wait_for(task, 20)

    # Redis loses everything it held.
    redis = Redis.from_url(settings.redis_url)
    assert await redis.exists("arq:job:rec:1:fetch")
    await redis.flushdb()
    await redis.aclose()

    # Workers come back; the recovery sweep at start-up finds the recording in the database.
    async with running(settings, telegram):
        await telegram.wait_for(lambda: "Received" in (progress.content or ""), timeout=30)


async def test_a_recording_whose_announcement_was_lost_is_finished_by_the_sweep(
    world: World,
) -> None:
    # The channel post went out and its row says so, but announcing the end failed (say, the
    # database was locked a moment): the recording still says UPLOADING and no job is owed.
    await world.connect_channel()
    assert await world.publish(["telegram"]) == ["telegram"]
    url = "https://t.me/lectures_channel/7"
    await run_sql(
        world.settings.database_url,
        sa.update(Publication)
        .where(Publication.recording_id == world.recording_id)
        .values(status=PublicationStatus.DONE, remote_id="7", url=url),
    )
    assert (await world.recording()).status == RecordingStatus.UPLOADING.value

    async with worker_deps(world.settings) as deps:
        await recovery.recover({"deps": deps})
        [links] = world.links_messages()
        # Sweeps (and late jobs) that find it finished say nothing more.
        await recovery.recover({"deps": deps})
        await asyncio.gather(
            publish_run.announce_if_finished(deps, world.workspace_id, world.recording_id),
            publish_run.announce_if_finished(deps, world.workspace_id, world.recording_id),
        )

    assert world.links_messages() == [links]
    assert url in (links.content or "")
    assert (await world.recording()).status == RecordingStatus.READY.value
