"""Quotas: refused before anything is created, with the numbers; /usage shows where one stands."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from leap.settings import Settings
from storage.models import Recording
from tests.bot.chat_fixtures import (
    SlowFilesTelegram,
    rows,
    seen,
    slow_files_telegram,  # noqa: F401  (the fake Bot API with slow downloads, as `telegram`)
)
from tests.conftest import running
from tests.fakes.media_site import MediaSite
from tests.fakes.telegram import BotMessage

MB = 1_000_000


@pytest.fixture
async def site(small_video: Path) -> AsyncIterator[MediaSite]:
    fake = MediaSite({"small.mp4": small_video})
    await fake.start()
    yield fake
    await fake.stop()


async def ask(
    telegram: SlowFilesTelegram, chat: dict[str, Any], user: dict[str, Any], text: str
) -> BotMessage:
    mark = telegram.mark()
    await telegram.send_text(chat, user, text)
    return await telegram.wait_for_message(chat["id"], after=mark)


async def test_a_file_over_the_storage_quota_is_refused_with_the_numbers(
    settings: Settings, telegram: SlowFilesTelegram, small_video: Path
) -> None:
    tight = settings.model_copy(update={"quota_storage_gb": 0.005})
    async with running(tight, telegram):
        user = telegram.user(1901, "Lena", language_code="en")
        chat = telegram.private_chat(user)
        await telegram.send_document(
            chat,
            user,
            small_video,
            file_name="lecture.mp4",
            mime_type="video/mp4",
            file_size=12 * MB,
        )
        reply = await telegram.wait_for_message(chat["id"], after=0)
        assert "storage would overflow" in reply.content
        assert "Used 0 KB of 5.0 MB; this recording is 12 MB." in reply.content
        assert await rows(tight, Recording) == []

        ru = telegram.user(1902, "Лена", language_code="ru")
        ru_chat = telegram.private_chat(ru)
        await telegram.send_video(
            ru_chat, ru, small_video, duration=8, file_size=6 * MB, file_name="lecture.mp4"
        )
        reply = await telegram.wait_for_message(ru_chat["id"], after=0)
        assert "Занято 0 КБ из 5,0 МБ; эта запись — 6,0 МБ." in reply.content
        assert await rows(tight, Recording) == []


async def test_only_so_many_recordings_are_processed_at_once(
    settings: Settings, telegram: SlowFilesTelegram, small_video: Path
) -> None:
    two = settings.model_copy(update={"quota_concurrent": 2})
    async with running(two, telegram):
        telegram.bytes_per_second = 20_000  # downloads take their time
        user = telegram.user(1911, "Ivan", language_code="en")
        chat = telegram.private_chat(user)
        # Three files sent together, as an album is: they are handled side by side.
        for n in (1, 2, 3):
            await telegram.send_document(
                chat, user, small_video, file_name=f"part {n}.mp4", mime_type="video/mp4"
            )
        await telegram.wait_for(lambda: len(telegram.sent(chat["id"])) == 3)
        texts = [m.content or "" for m in telegram.sent(chat["id"])]
        refused = [t for t in texts if "Not accepted right now" in t]
        assert len(refused) == 1
        assert "as many recordings as it may at a time (2 of 2)" in refused[0]
        assert len(await rows(two, Recording)) == 2

        usage = await ask(telegram, chat, user, "/usage")
        assert "In progress now: 2 of 2\n▰▰▰▰▰▰▰▰▰▰ 100%" in seen(usage)
        telegram.bytes_per_second = None


async def test_minutes_of_the_month_count_what_was_processed(
    settings: Settings, telegram: SlowFilesTelegram, small_video: Path
) -> None:
    minute = settings.model_copy(update={"quota_minutes": 1.0})
    async with running(minute, telegram):
        user = telegram.user(1921, "Olga", language_code="en")
        chat = telegram.private_chat(user)
        # Telegram says 30 s; the download measures 8 s, and that is what counts.
        await telegram.send_video(chat, user, small_video, duration=30, file_name="short.mp4")
        progress = await telegram.wait_for_message(chat["id"], after=0)
        # The fetch stage measures the source; from then on the count is what it found.
        await telegram.wait_for(lambda: "Received: 0:08" in (progress.content or ""))

        usage = seen(await ask(telegram, chat, user, "/usage"))
        assert "Processed this month: 0.1 of 1 min\n▰▱▱▱▱▱▱▱▱▱ 13%" in usage
        assert "Storage: " in usage and " of 50.0 GB\n▰▱▱▱▱▱▱▱▱▱ 0%" in usage

        mark = telegram.mark()
        await telegram.send_video(chat, user, small_video, duration=60, file_name="long.mp4")
        refused = await telegram.wait_for_message(chat["id"], after=mark)
        assert "this month's processing time would be exceeded" in refused.content
        assert "Processed 0.1 of 1 min this month; this recording is 1 min long." in (
            refused.content
        )
        assert [r.source_name for r in await rows(minute, Recording)] == ["short.mp4"]


async def test_links_are_checked_against_the_quotas_before_download(
    settings: Settings, telegram: SlowFilesTelegram, site: MediaSite
) -> None:
    tight = settings.model_copy(
        update={"allow_private_urls": True, "quota_storage_gb": 0.0005, "quota_minutes": 5.0}
    )
    async with running(tight, telegram):
        user = telegram.user(1931, "Tom", language_code="en")
        chat = telegram.private_chat(user)
        await telegram.send_text(chat, user, site.url("/media/small.mp4"))
        reply = await telegram.wait_for_message(chat["id"], after=0)
        await telegram.wait_for(lambda: "❌" in (reply.content or ""))
        assert "Used 0 KB of 500 KB; this recording is 811 KB." in reply.content

        # The playlist's first video is ten minutes long: more than the month allows.
        roomy = tight.model_copy(update={"quota_storage_gb": 50.0})
    async with running(roomy, telegram):
        mark = telegram.mark()
        await telegram.send_text(chat, user, site.url("/feed.xml"))
        offer = await telegram.wait_for_message(chat["id"], after=mark)
        await telegram.wait_for(lambda: "Process them?" in (offer.content or ""))
        yes = next(data for text, data in offer.buttons if "Yes" in text)
        await telegram.press(chat, user, offer.message_id, yes)
        await telegram.wait_for(lambda: "Queued: 0" in (offer.content or ""))
        assert "Processed 0 of 5 min this month; this recording is 10 min long." in offer.content
        assert await rows(roomy, Recording) == []
