"""Nothing is lost when Redis or the workers are: the database knows what is owed."""

from __future__ import annotations

import asyncio
from pathlib import Path

from redis.asyncio import Redis

from leap.app import serve
from tests.conftest import running
from tests.fakes.telegram import FakeTelegram


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
