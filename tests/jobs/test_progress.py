"""The progress message against the Bot API: paced, newest text wins, faults never propagate."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from redis.asyncio import Redis

from integrations.telegram import make_bot
from jobs.progress import ProgressHub, ProgressMessage
from tests.fakes.telegram import FakeTelegram


@pytest.fixture
async def message(telegram: FakeTelegram):
    bot = make_bot(telegram.token, telegram.base_url)
    user = telegram.user(301, "Ann")
    chat = telegram.private_chat(user)
    sent = await bot.send_message(chat["id"], "queued")
    yield bot, telegram.message(chat["id"], sent.message_id)
    await bot.session.close()


def _edit_times(telegram: FakeTelegram, message_id: int) -> list[float]:
    return [
        c.time
        for c in telegram.calls_of("editMessageText")
        if int(c.params["message_id"]) == message_id
    ]


async def test_many_updates_become_few_edits_and_the_last_one_lands(
    telegram: FakeTelegram, message
) -> None:
    bot, shown = message
    progress = ProgressMessage(bot, shown.chat_id, shown.message_id, interval=0.5)
    loop = asyncio.get_running_loop()
    began = loop.time()
    for percent in range(0, 101, 2):
        progress.update(f"Downloading… {percent}%")
        await asyncio.sleep(0.02)
    await progress.drain(5)
    elapsed = loop.time() - began

    assert shown.content == "Downloading… 100%"
    times = _edit_times(telegram, shown.message_id)
    assert 2 <= len(times) <= elapsed / 0.5 + 1
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(gap >= 0.45 for gap in gaps), gaps


async def test_default_pace_is_one_edit_per_three_seconds(telegram: FakeTelegram, message) -> None:
    bot, shown = message
    progress = ProgressMessage(bot, shown.chat_id, shown.message_id)
    assert progress.interval == 3.0
    progress.update("step 1")
    await asyncio.sleep(0.1)
    progress.update("step 2")
    progress.update("step 3")
    await asyncio.sleep(0.3)
    assert shown.content == "step 1"  # the next edit waits for its turn
    await progress.drain(10)
    assert shown.content == "step 3"
    times = _edit_times(telegram, shown.message_id)
    assert len(times) == 2 and times[1] - times[0] >= 2.9


async def test_retry_after_is_obeyed_and_the_text_is_not_lost(
    telegram: FakeTelegram, message
) -> None:
    bot, shown = message
    telegram.fail_next("editMessageText", error_code=429, retry_after=1)
    progress = ProgressMessage(bot, shown.chat_id, shown.message_id, interval=0.1)
    progress.update("almost there")
    await progress.drain(5)
    assert shown.content == "almost there"
    attempts = _edit_times(telegram, shown.message_id)
    assert len(attempts) == 2 and attempts[1] - attempts[0] >= 0.95


async def test_unchanged_text_and_broken_edits_do_not_raise(
    telegram: FakeTelegram, message
) -> None:
    bot, shown = message
    progress = ProgressMessage(bot, shown.chat_id, shown.message_id, interval=0.05)
    progress.update("queued")  # same text: Telegram answers "message is not modified"
    await progress.drain(5)
    telegram.fail_next("editMessageText", error_code=400, description="Bad Request: chat not found")
    progress.update("next")
    await progress.drain(5)
    progress.update("after")
    await progress.drain(5)
    assert shown.content == "after"


async def test_two_reporters_of_one_message_share_the_pace(
    telegram: FakeTelegram, message, clean_redis: str
) -> None:
    bot, shown = message
    redis = Redis.from_url(clean_redis)
    try:
        first = ProgressHub(bot, redis, 0.8).message(shown.chat_id, shown.message_id)
        second = ProgressHub(bot, redis, 0.8).message(shown.chat_id, shown.message_id)
        first.update("from the io worker")
        await first.drain(5)
        second.update("from the media worker")
        await second.drain(5)
        times = _edit_times(telegram, shown.message_id)
        assert shown.content == "from the media worker"
        assert times[1] - times[0] >= 0.75
    finally:
        await redis.aclose()
