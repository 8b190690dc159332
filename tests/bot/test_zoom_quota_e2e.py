"""Zoom imports and the workspace's quotas: checked from what Zoom declares, before anything."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from jobs.zoom_sync import zoom_sync
from leap.settings import Settings
from storage import quotas, repo
from storage.db import create_engine, session_maker
from storage.models import Recording
from tests.bot.chat_fixtures import seen
from tests.bot.test_zoom_e2e import connect_privately, days_ago, rows, zoom_settings
from tests.conftest import running
from tests.fakes.telegram import BotMessage, FakeTelegram
from tests.fakes.zoom import FakeZoom
from tests.jobs.test_zoom_sync import set_workspace, worker_deps

MB = 1_000_000


@pytest.fixture
async def zoom() -> AsyncIterator[FakeZoom]:
    async with FakeZoom() as server:
        yield server


async def set_quota(database_url: str, chat_id: int, **limits: float) -> None:
    """The operator gives the workspace its own limits (`leap workspace set-quota`)."""
    engine = create_engine(database_url)
    try:
        async with session_maker(engine)() as session:
            workspace = await repo.workspace_by_chat(session, chat_id)
            assert workspace is not None
            quotas.set_overrides(workspace, **limits)
            await session.commit()
    finally:
        await engine.dispose()


async def zoom_list(telegram: FakeTelegram, user: dict[str, Any]) -> BotMessage:
    chat = telegram.private_chat(user)
    mark = telegram.mark()
    await telegram.send_text(chat, user, "/zoom")
    listing = await telegram.wait_for_message(user["id"], after=mark)
    await telegram.wait_for(lambda: bool(listing.buttons))
    return listing


async def pick(telegram: FakeTelegram, user: dict[str, Any], listing: BotMessage) -> BotMessage:
    """Press the list's first button; the bot's next message in the chat."""
    chat = telegram.private_chat(user)
    mark = telegram.mark()
    await telegram.press(chat, user, listing.message_id, listing.buttons[0][1])
    return await telegram.wait_for_message(user["id"], after=mark)


async def test_a_zoom_pick_over_the_minutes_quota_is_refused_until_there_is_room(
    settings: Settings, telegram: FakeTelegram, zoom: FakeZoom, small_video: Path
) -> None:
    zoom.add_meeting(
        "Linear Algebra 1", days_ago(1), 60, [zoom.mp4("shared_screen", small_video.read_bytes())]
    )
    config = zoom_settings(settings, zoom)
    async with running(config, telegram):
        user = telegram.user(1951, "Lena", language_code="en")
        await connect_privately(telegram, user, zoom)
        await set_quota(config.database_url, user["id"], minutes=30)

        listing = await zoom_list(telegram, user)
        refusal = await pick(telegram, user, listing)
        assert "this month's processing time would be exceeded" in refusal.content
        assert "Processed 0 of 30 min this month; this recording is 60 min long." in (
            refusal.content
        )
        assert await rows(config.database_url, Recording) == []

        # The same button imports the recording once the operator makes room.
        await set_quota(config.database_url, user["id"], minutes=120)
        progress = await pick(telegram, user, listing)
        assert "Linear Algebra 1" in progress.content
        await telegram.wait_for(lambda: "Received" in (progress.content or ""), timeout=30)

    [recording] = await rows(config.database_url, Recording)
    assert recording.source_name == "Linear Algebra 1"


async def test_a_zoom_pick_over_the_storage_quota_is_refused_in_the_users_language(
    settings: Settings, telegram: FakeTelegram, zoom: FakeZoom, small_video: Path
) -> None:
    big = zoom.mp4("shared_screen", small_video.read_bytes(), listed_size=12 * MB)
    zoom.add_meeting("Физика 4", days_ago(1), 45, [big])
    config = zoom_settings(settings, zoom)
    async with running(config, telegram):
        user = telegram.user(1952, "Иван", language_code="ru")
        await connect_privately(telegram, user, zoom)
        await set_quota(config.database_url, user["id"], storage_gb=0.005)

        refusal = await pick(telegram, user, await zoom_list(telegram, user))
        assert "Не принято" in refusal.content
        assert "Занято 0 КБ из 5,0 МБ; эта запись — 12 МБ." in refusal.content
    assert await rows(config.database_url, Recording) == []


async def test_the_sync_holds_what_does_not_fit_says_so_once_and_imports_it_later(
    settings: Settings, telegram: FakeTelegram, zoom: FakeZoom, small_video: Path
) -> None:
    video = small_video.read_bytes()
    zoom.add_meeting("Linear Algebra 3", days_ago(1), 90, [zoom.mp4("shared_screen", video)])
    zoom.add_meeting("Physics 2", days_ago(2), 60, [zoom.mp4("shared_screen", video)])
    config = zoom_settings(settings, zoom)
    async with running(config, telegram), worker_deps(config) as deps:
        user = telegram.user(1961, "Olga", language_code="en")
        await connect_privately(telegram, user, zoom)
        await set_workspace(config.database_url, user["id"], zoom_auto_import=True)
        await set_quota(config.database_url, user["id"], minutes=30)

        mark = telegram.mark()
        assert await zoom_sync({"deps": deps}) == 0
        notice = await telegram.wait_for_message(user["id"], after=mark)
        text = seen(notice)
        assert "Zoom: new recordings are waiting." in text
        assert "«Physics 2» — this month: 0 of 30 min processed; this recording is 60 min" in text
        assert "«Linear Algebra 3» — this month: 0 of 30 min processed" in text
        assert "once there is room" in text
        assert await rows(config.database_url, Recording) == []

        # Every quarter of an hour the sync looks again; the chat has been told already.
        before = len(telegram.sent(user["id"]))
        assert await zoom_sync({"deps": deps}) == 0
        assert len(telegram.sent(user["id"])) == before
        assert await rows(config.database_url, Recording) == []

        await set_quota(config.database_url, user["id"], minutes=1000)
        assert await zoom_sync({"deps": deps}) == 2
        names = [r.source_name for r in await rows(config.database_url, Recording)]
        # Oldest first, as the lectures were given.
        assert names == ["Physics 2", "Linear Algebra 3"]
        assert not any("waiting" in seen(m) for m in telegram.sent(user["id"])[before:])
