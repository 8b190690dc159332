"""A Zoom meeting becomes one recording, however many presses and syncs reach for it at once."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from jobs.zoom_sync import zoom_sync
from leap.settings import Settings
from storage.models import Recording
from tests.bot.chat_fixtures import bot_only
from tests.bot.test_zoom_e2e import connect_privately, days_ago, rows, zoom_settings
from tests.bot.test_zoom_quota_e2e import zoom_list
from tests.fakes.telegram import BotMessage, FakeTelegram
from tests.fakes.zoom import FakeZoom
from tests.jobs.test_zoom_sync import set_workspace, worker_deps

QUEUED = "Queued for processing."
ALREADY = "This recording is already imported."


@pytest.fixture
async def zoom() -> AsyncIterator[FakeZoom]:
    async with FakeZoom() as server:
        yield server


async def group_list(
    telegram: FakeTelegram, group: dict[str, Any], admin: dict[str, Any]
) -> BotMessage:
    mark = telegram.mark()
    await telegram.send_text(group, admin, "/zoom")
    listing = await telegram.wait_for_message(
        group["id"], lambda m: "Asking Zoom" in (m.content or ""), after=mark
    )
    await telegram.wait_for(lambda: bool(listing.buttons))
    return listing


async def offered(settings: Settings) -> int:
    """How many Import buttons of the lists shown so far still stand (each is a Redis key)."""
    redis = Redis.from_url(settings.redis_url)
    try:
        return len(await redis.keys("leap:zoom:pick:*"))
    finally:
        await redis.aclose()


async def waiting_for_its_turn(settings: Settings, before: int) -> None:
    """Until the Import just pressed, of `before` standing, has been taken up by the bot.

    A press takes its button's entry out of Redis first thing; the rest, up to waiting for
    the workspace's turn, reads the database and is done well within the pause after it.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while await offered(settings) >= before:
        assert loop.time() < deadline, "the press was not taken up"
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.5)


@contextlib.contextmanager
def busy_database(settings: Settings) -> Iterator[None]:
    """Another process writing to the database: every other writer waits until it is done."""
    path = settings.database_url.split("///", 1)[1]
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        yield
        other.execute("ROLLBACK")
    finally:
        other.close()


async def test_two_admins_importing_one_meeting_at_once_make_one_recording(
    settings: Settings, telegram: FakeTelegram, zoom: FakeZoom, small_video: Path
) -> None:
    zoom.add_meeting(
        "Linear Algebra 4", days_ago(1), 60, [zoom.mp4("shared_screen", small_video.read_bytes())]
    )
    config = zoom_settings(settings, zoom)
    group = telegram.group(-100931, "Linear Algebra")
    olga = telegram.user(931, "Olga", language_code="en")
    adam = telegram.user(932, "Adam", language_code="en")
    telegram.set_admins(group["id"], [olga["id"], adam["id"]])
    async with bot_only(config):
        mark = telegram.mark()
        await telegram.send_text(group, olga, "/zoom_connect")
        await telegram.wait_for_message(group["id"], after=mark)
        await connect_privately(telegram, olga, zoom)

        olgas, adams = (
            await group_list(telegram, group, olga),
            await group_list(telegram, group, adam),
        )
        # Each presses Import in the list they asked for, and Olga presses hers twice.
        presses = [
            await telegram.press(group, olga, olgas.message_id, olgas.buttons[0][1]),
            await telegram.press(group, adam, adams.message_id, adams.buttons[0][1]),
            await telegram.press(group, olga, olgas.message_id, olgas.buttons[0][1]),
        ]
        answers = [(await telegram.wait_for_answer(query))["text"] for query in presses]

    assert answers.count(QUEUED) == 1
    assert set(answers) - {QUEUED} <= {ALREADY, "This list is out of date; send /zoom again."}
    [recording] = await rows(config.database_url, Recording)
    assert recording.source_name == "Linear Algebra 4"


async def test_an_import_pressed_while_the_sync_imports_the_meeting_is_not_made_twice(
    settings: Settings, telegram: FakeTelegram, zoom: FakeZoom, small_video: Path
) -> None:
    zoom.add_meeting(
        "Linear Algebra 5", days_ago(1), 60, [zoom.mp4("shared_screen", small_video.read_bytes())]
    )
    config = zoom_settings(settings, zoom)
    user = telegram.user(933, "Lena", language_code="en")
    chat = telegram.private_chat(user)
    async with bot_only(config), worker_deps(config) as deps:
        await connect_privately(telegram, user, zoom)
        listing = await zoom_list(telegram, user)
        await set_workspace(config.database_url, user["id"], zoom_auto_import=True)

        # The sync is posting the recording's progress message when Lena presses Import.
        posting = telegram.hold("sendMessage", chat_id=user["id"])
        sync = asyncio.create_task(zoom_sync({"deps": deps}))
        await posting.reached()
        before = await offered(config)
        query = await telegram.press(chat, user, listing.message_id, listing.buttons[0][1])
        await waiting_for_its_turn(config, before)
        posting.release()
        imported = await sync
        answer = await telegram.wait_for_answer(query)

    assert imported == 1
    assert answer["text"] == ALREADY
    [recording] = await rows(config.database_url, Recording)
    assert recording.source_name == "Linear Algebra 5"
    assert recording.created_by is None  # the sync's


async def test_a_meeting_imported_by_a_press_while_the_sync_runs_is_not_imported_again(
    settings: Settings, telegram: FakeTelegram, zoom: FakeZoom, small_video: Path
) -> None:
    zoom.add_meeting(
        "Linear Algebra 6", days_ago(1), 60, [zoom.mp4("shared_screen", small_video.read_bytes())]
    )
    config = zoom_settings(settings, zoom)
    user = telegram.user(934, "Lena", language_code="en")
    chat = telegram.private_chat(user)
    async with bot_only(config), worker_deps(config) as deps:
        await connect_privately(telegram, user, zoom)
        listing = await zoom_list(telegram, user)
        await set_workspace(config.database_url, user["id"], zoom_auto_import=True)

        # Another writer keeps the database busy, so Lena's import, once in its turn, waits
        # to be saved; meanwhile the sync lists Zoom and finds the meeting not imported yet.
        with busy_database(config):
            before = await offered(config)
            query = await telegram.press(chat, user, listing.message_id, listing.buttons[0][1])
            await waiting_for_its_turn(config, before)
            listed = len(zoom.list_calls)
            sync = asyncio.create_task(zoom_sync({"deps": deps}))
            await telegram.wait_for(lambda: len(zoom.list_calls) > listed)
            await asyncio.sleep(0.5)
        answer = await telegram.wait_for_answer(query)
        imported = await sync

    assert answer["text"] == QUEUED
    assert imported == 0
    [recording] = await rows(config.database_url, Recording)
    assert recording.created_by == user["id"]
