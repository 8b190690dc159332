"""Every way in counts alike: what came in one way counts against the quotas of the next.

A file, a link, a playlist's videos and a Zoom import all become recordings through the same
admission; these tests send them one after the other and read the refusals' numbers. The
bot runs without workers, so nothing is downloaded and every recording counts with the size
and length its source declared.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from leap.settings import Settings
from storage.models import AuditEvent, Recording
from tests.bot.chat_fixtures import bot_only
from tests.bot.test_zoom_e2e import connect_privately, days_ago, rows, zoom_settings
from tests.bot.test_zoom_quota_e2e import pick, zoom_list
from tests.fakes.media_site import MediaSite
from tests.fakes.telegram import FakeTelegram
from tests.fakes.zoom import FakeZoom

QUEUED = "Waiting in the queue"


@pytest.fixture
async def site(small_video: Path) -> AsyncIterator[MediaSite]:
    fake = MediaSite({"small.mp4": small_video})
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def zoom() -> AsyncIterator[FakeZoom]:
    async with FakeZoom() as server:
        yield server


async def test_a_playlist_comes_in_video_by_video_until_one_does_not_fit(
    settings: Settings, telegram: FakeTelegram, site: MediaSite, small_video: Path
) -> None:
    # The feed's lectures last 10, 20 and 30 minutes; the month has room for 35.
    config = settings.model_copy(update={"allow_private_urls": True, "quota_minutes": 35.0})
    user = telegram.user(1971, "Nina", language_code="en")
    chat = telegram.private_chat(user)
    async with bot_only(config):
        link = await telegram.send_text(chat, user, site.url("/feed.xml"))
        offer = await telegram.wait_for_message(chat["id"], after=0)
        await telegram.wait_for(lambda: "Process them?" in (offer.content or ""))
        yes = next(data for text, data in offer.buttons if "Yes" in text)
        await telegram.press(chat, user, offer.message_id, yes)
        await telegram.wait_for(lambda: "Queued: 2" in (offer.content or ""))
        assert "Processed 30 of 35 min this month; this recording is 30 min long." in (
            offer.content
        )
        assert not offer.buttons

        # Each video admitted has its own progress message, in answer to the link.
        progress = [m for m in telegram.sent(chat["id"]) if QUEUED in (m.content or "")]
        assert len(progress) == 2
        assert "Lecture 1" in progress[0].content and "Lecture 2" in progress[1].content
        assert all(m.reply_to_message_id == link["message_id"] for m in progress)
        recordings = await rows(config.database_url, Recording)
        assert [r.source_name for r in recordings] == ["Lecture 1", "Lecture 2"]
        assert [r.progress_message_id for r in recordings] == [m.message_id for m in progress]

        # A file sent next is counted against what the playlist brought.
        mark = telegram.mark()
        await telegram.send_video(chat, user, small_video, duration=600, file_name="extra.mp4")
        refusal = await telegram.wait_for_message(chat["id"], after=mark)
        assert "Processed 30 of 35 min this month; this recording is 10 min long." in (
            refusal.content
        )
    assert len(await rows(config.database_url, Recording)) == 2


async def test_a_zoom_import_takes_the_place_a_file_and_a_link_would_have_taken(
    settings: Settings,
    telegram: FakeTelegram,
    zoom: FakeZoom,
    site: MediaSite,
    small_video: Path,
) -> None:
    zoom.add_meeting(
        "Linear Algebra 7", days_ago(1), 60, [zoom.mp4("shared_screen", small_video.read_bytes())]
    )
    config = zoom_settings(settings, zoom).model_copy(
        update={"allow_private_urls": True, "quota_concurrent": 1}
    )
    user = telegram.user(1972, "Oleg", language_code="en")
    chat = telegram.private_chat(user)
    async with bot_only(config):
        await connect_privately(telegram, user, zoom)
        progress = await pick(telegram, user, await zoom_list(telegram, user))
        assert "Linear Algebra 7" in progress.content and QUEUED in progress.content

        mark = telegram.mark()
        await telegram.send_document(
            chat, user, small_video, file_name="lecture.mp4", mime_type="video/mp4"
        )
        refusal = await telegram.wait_for_message(chat["id"], after=mark)
        assert "as many recordings as it may at a time (1 of 1)" in refusal.content

        mark = telegram.mark()
        await telegram.send_text(chat, user, site.url("/media/small.mp4"))
        reply = await telegram.wait_for_message(chat["id"], after=mark)
        await telegram.wait_for(lambda: "❌" in (reply.content or ""))
        assert "as many recordings as it may at a time (1 of 1)" in reply.content

    [recording] = await rows(config.database_url, Recording)
    assert recording.source_name == "Linear Algebra 7"
    assert recording.progress_message_id == progress.message_id
    # The import is traced in the audit log as the person's, not the sync's.
    imports = [e for e in await rows(config.database_url, AuditEvent) if e.action == "zoom_import"]
    assert [(e.user_id, e.target, e.details["automatic"]) for e in imports] == [
        (user["id"], f"recording:{recording.id}", False)
    ]
