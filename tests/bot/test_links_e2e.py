"""A person sending links to the running bot; yt-dlp fetches them from a site on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from leap.settings import Settings
from storage.db import create_engine
from storage.files import MediaStore
from storage.models import Recording, SourceKind
from tests.bot.chat_fixtures import bot_only, seen
from tests.conftest import RunningBot, running
from tests.fakes.media_site import MediaSite
from tests.fakes.telegram import BotMessage, FakeTelegram


@pytest.fixture
async def site(small_video: Path) -> AsyncIterator[MediaSite]:
    fake = MediaSite({"small.mp4": small_video})
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def local_app(settings: Settings, telegram: FakeTelegram) -> AsyncIterator[RunningBot]:
    """The bot allowed to fetch from 127.0.0.1, where the test site lives."""
    async with running(settings.model_copy(update={"allow_private_urls": True}), telegram) as bot:
        yield bot


async def _recordings(url: str) -> list[Recording]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(sa.select(Recording).order_by(Recording.id))).all()
            return list(rows)  # type: ignore[arg-type]
    finally:
        await engine.dispose()


async def _answer_to(
    telegram: FakeTelegram, chat_id: int, done: str, timeout: float = 20.0
) -> BotMessage:
    """The bot's reply to a link, once it has settled on something containing `done`."""
    reply = await telegram.wait_for_message(chat_id, after=0)
    await telegram.wait_for(lambda: done in (reply.content or ""), timeout=timeout)
    return reply


async def test_direct_link_is_downloaded_and_probed(
    local_app: RunningBot, telegram: FakeTelegram, site: MediaSite, small_video: Path
) -> None:
    user = telegram.user(301, "Lena", language_code="en")
    url = site.url("/media/small.mp4?slow=1")
    await telegram.send_text(telegram.private_chat(user), user, f"Yesterday's lecture: {url}")

    progress = await _answer_to(telegram, 301, "Received", timeout=30)
    assert "Received: 0:08, 320×240" in progress.content
    assert any("Looking at the link" in (t or "") for t in progress.texts)
    percents = [t for t in progress.texts if t and "Downloading…" in t and "%" in t]
    assert percents, progress.texts
    # One message from the first look to the end.
    assert [m.message_id for m in telegram.sent(301)] == [progress.message_id]

    recording = (await _recordings(local_app.settings.database_url))[0]
    assert recording.source_kind == SourceKind.LINK.value
    assert recording.source_ref == url
    assert recording.source_name == "small"
    assert recording.source_ext == "mp4"
    stored = (
        MediaStore(local_app.settings.storage_dir).recording_dir(
            recording.workspace_id, recording.id, create=False
        )
        / "source.mp4"
    )
    assert stored.read_bytes() == small_video.read_bytes()


async def test_page_with_a_video_takes_its_title(
    local_app: RunningBot, telegram: FakeTelegram, site: MediaSite
) -> None:
    user = telegram.user(302, "Oleg", language_code="ru")
    await telegram.send_text(telegram.private_chat(user), user, site.url("/watch/small.mp4"))
    progress = await _answer_to(telegram, 302, "Получено", timeout=30)
    assert "Lecture small" in progress.content
    recording = (await _recordings(local_app.settings.database_url))[0]
    assert recording.source_name.startswith("Lecture small")


async def test_too_long_is_refused_before_any_download(
    local_app: RunningBot, telegram: FakeTelegram, site: MediaSite
) -> None:
    user = telegram.user(303, "Ivan", language_code="en")
    await telegram.send_text(telegram.private_chat(user), user, site.url("/long"))
    reply = await _answer_to(telegram, 303, "❌")
    assert "12:00:00" in reply.content and "5:00:00" in reply.content
    assert site.requested("/media/small.mp4") == []
    assert await _recordings(local_app.settings.database_url) == []


async def test_too_large_is_refused_before_any_download(
    local_app: RunningBot, telegram: FakeTelegram, site: MediaSite
) -> None:
    user = telegram.user(304, "Olga", language_code="en")
    await telegram.send_text(telegram.private_chat(user), user, site.url("/huge"))
    reply = await _answer_to(telegram, 304, "❌")
    assert "5.0 GB" in reply.content and "4.0 GB" in reply.content
    # Asked for its size only; the bytes were never requested.
    assert [h.method for h in site.requested("/big/huge.mp4")] == ["HEAD"]
    assert await _recordings(local_app.settings.database_url) == []


async def test_missing_page_and_private_video_are_explained(
    local_app: RunningBot, telegram: FakeTelegram, site: MediaSite
) -> None:
    user = telegram.user(305, "Max", language_code="en")
    chat = telegram.private_chat(user)
    await telegram.send_text(chat, user, f"{site.url('/gone.mp4')}\n{site.url('/private')}")
    await telegram.wait_for(lambda: sum("❌" in (m.content or "") for m in telegram.sent(305)) == 2)
    missing, private = telegram.sent(305)
    assert "Nothing was found at this link (404)" in missing.content
    assert "private or needs signing in" in private.content
    assert await _recordings(local_app.settings.database_url) == []


async def test_live_stream_is_refused(
    local_app: RunningBot, telegram: FakeTelegram, site: MediaSite
) -> None:
    user = telegram.user(306, "Rita", language_code="ru")
    await telegram.send_text(telegram.private_chat(user), user, site.url("/live"))
    reply = await _answer_to(telegram, 306, "❌")
    assert "прямая трансляция" in reply.content


async def test_private_addresses_are_refused_without_a_request(
    app: RunningBot, telegram: FakeTelegram, site: MediaSite
) -> None:
    user = telegram.user(307, "Eve", language_code="en")
    chat = telegram.private_chat(user)
    links = [
        site.url("/media/small.mp4"),
        "http://10.0.0.1/lecture.mp4",
        f"http://localhost:{site.port}/media/small.mp4",
        f"http://[::ffff:127.0.0.1]:{site.port}/media/small.mp4",
    ]
    for link in links:
        await telegram.send_text(chat, user, link)
    await telegram.send_text(chat, user, "please take file:///etc/passwd")
    await telegram.wait_for(lambda: sum("❌" in (m.content or "") for m in telegram.sent(307)) == 5)
    replies = [m.content or "" for m in telegram.sent(307)]
    assert sum("private or local network address" in r for r in replies) == 4
    assert sum("only open http:// and https:// links" in r for r in replies) == 1
    assert site.hits == []
    assert await _recordings(app.settings.database_url) == []


async def test_playlist_is_offered_and_queued_on_yes(
    local_app: RunningBot, telegram: FakeTelegram, site: MediaSite
) -> None:
    user = telegram.user(308, "Nina", language_code="en")
    chat = telegram.private_chat(user)
    await telegram.send_text(chat, user, site.url("/feed.xml"))
    offer = await _answer_to(telegram, 308, "Process them?")
    assert "Signals podcast" in offer.content
    assert "3 videos, 1:00:00 in total" in offer.content
    assert await _recordings(local_app.settings.database_url) == []
    yes = next(data for text, data in offer.buttons if "Yes" in text)

    await telegram.press(chat, user, offer.message_id, yes)
    await telegram.wait_for(lambda: "Queued: 3" in (offer.content or ""))
    assert offer.buttons == []
    rows = await _recordings(local_app.settings.database_url)
    assert [r.source_name for r in rows] == ["Lecture 1", "Lecture 2", "Lecture 3"]
    assert [r.source_ref for r in rows] == [site.url(f"/media/small.mp4?n={n}") for n in (1, 2, 3)]
    progress = [m for m in telegram.sent(308) if m.message_id != offer.message_id]
    assert len(progress) == 3
    await telegram.wait_for(
        lambda: all("Received: 0:08" in (m.content or "") for m in progress), timeout=40
    )


async def test_playlist_declined_queues_nothing(
    local_app: RunningBot, telegram: FakeTelegram, site: MediaSite
) -> None:
    user = telegram.user(309, "Paul", language_code="en")
    chat = telegram.private_chat(user)
    await telegram.send_text(chat, user, site.url("/course"))
    offer = await _answer_to(telegram, 309, "Process them?")
    assert "3 videos" in offer.content
    no = next(data for text, data in offer.buttons if "No" in text)
    await telegram.press(chat, user, offer.message_id, no)
    await telegram.wait_for(lambda: "Nothing was queued" in (offer.content or ""))
    # A second, stale press finds the offer gone.
    query = await telegram.press(chat, user, offer.message_id, no, force=True)
    answer = await telegram.wait_for_answer(query)
    assert "expired" in answer.get("text", "")
    await asyncio.sleep(0)
    assert await _recordings(local_app.settings.database_url) == []


async def test_in_a_group_only_links_meant_for_the_bot_are_taken(
    local_app: RunningBot, telegram: FakeTelegram, site: MediaSite
) -> None:
    group = telegram.group(-100700, "Physics 101")
    student = telegram.user(310, "Sam", language_code="en")
    await telegram.send_text(group, student, f"look what I found {site.url('/gone.mp4')} lol")
    await telegram.send_text(group, student, site.url("/gone.mp4"))
    reply = await _answer_to(telegram, group["id"], "❌")
    assert "Nothing was found" in reply.content
    assert len(telegram.sent(group["id"])) == 1

    await telegram.send_text(
        group, student, f"@{telegram.bot_username} please take {site.url('/private')}"
    )
    await telegram.wait_for(lambda: len(telegram.sent(group["id"])) == 2)
    mentioned = telegram.sent(group["id"])[1]
    await telegram.wait_for(lambda: "❌" in (mentioned.content or ""))
    assert "private or needs signing in" in mentioned.content


async def test_a_playlist_video_that_fails_later_says_why_in_its_own_message(
    local_app: RunningBot, telegram: FakeTelegram, site: MediaSite
) -> None:
    user = telegram.user(311, "Vera", language_code="en")
    chat = telegram.private_chat(user)
    await telegram.send_text(chat, user, site.url("/feed.xml?broken=1&long=1"))
    offer = await _answer_to(telegram, 311, "Process them?")
    assert "3 videos, 1:00:00 in total" in offer.content
    assert "Longer than 5:00:00, so left out: 1" in offer.content
    yes = next(data for text, data in offer.buttons if "Yes" in text)
    await telegram.press(chat, user, offer.message_id, yes)
    await telegram.wait_for(lambda: "Queued: 3" in (offer.content or ""))

    first, second, third = [m for m in telegram.sent(311) if m.message_id != offer.message_id]
    await telegram.wait_for(lambda: "❌" in (second.content or ""), timeout=30)
    assert "Nothing was found at this link (404)" in second.content
    await telegram.wait_for(
        lambda: all("Received" in (m.content or "") for m in (first, third)), timeout=40
    )
    rows = await _recordings(local_app.settings.database_url)
    assert [r.failure_code for r in rows] == [None, "link_not_found", None]


async def test_videos_of_one_page_are_fetched_by_their_place(
    local_app: RunningBot, telegram: FakeTelegram, site: MediaSite
) -> None:
    user = telegram.user(312, "Kira", language_code="en")
    chat = telegram.private_chat(user)
    await telegram.send_text(chat, user, site.url("/course"))
    offer = await _answer_to(telegram, 312, "Process them?")
    assert "length will be known once they are downloaded" in offer.content
    yes = next(data for text, data in offer.buttons if "Yes" in text)
    await telegram.press(chat, user, offer.message_id, yes)
    progress = await telegram.wait_for_message(312, lambda m: m.message_id != offer.message_id)
    await telegram.wait_for(lambda: "Received: 0:08" in (progress.content or ""), timeout=30)
    rows = await _recordings(local_app.settings.database_url)
    assert [r.options.get("link_item") for r in rows] == [1, 2, 3]
    assert {r.source_ref for r in rows} == {site.url("/course")}
    assert "Signals course (1)" in progress.content


async def test_operators_limits_on_size_and_playlist_length_apply(
    settings: Settings, telegram: FakeTelegram, site: MediaSite
) -> None:
    strict = settings.model_copy(
        update={"allow_private_urls": True, "link_max_size_gb": 0.0005, "playlist_max_items": 2}
    )
    async with running(strict, telegram):
        user = telegram.user(313, "Tom", language_code="en")
        chat = telegram.private_chat(user)
        await telegram.send_text(chat, user, site.url("/media/small.mp4"))
        refused = await _answer_to(telegram, 313, "❌")
        assert "The video is 811 KB; the most I download is 500 KB." in refused.content

        mark = telegram.mark()
        await telegram.send_text(chat, user, site.url("/feed.xml"))
        offer = await telegram.wait_for_message(313, after=mark)
        await telegram.wait_for(lambda: "Process them?" in (offer.content or ""))
        assert "2 videos, 30:00 in total" in offer.content
        assert "The list has 3 videos; I will take the first 2." in offer.content


async def test_in_a_group_a_playlist_offer_is_answered_by_its_sender_or_an_admin(
    local_app: RunningBot, telegram: FakeTelegram, site: MediaSite
) -> None:
    group = telegram.group(-100701, "Signals")
    admin = telegram.user(320, "Adam", language_code="en")
    sender = telegram.user(321, "Sam", language_code="en")
    other = telegram.user(322, "Nina", language_code="en")
    telegram.set_admins(group["id"], [admin["id"]])

    async def offered(path: str) -> BotMessage:
        mark = telegram.mark()
        await telegram.send_text(group, sender, site.url(path))
        offer = await telegram.wait_for_message(group["id"], after=mark)
        await telegram.wait_for(lambda: "Process them?" in (offer.content or ""))
        return offer

    def no(offer: BotMessage) -> str:
        return next(data for text, data in offer.buttons if "No" in text)

    offer = await offered("/course")
    query = await telegram.press(group, other, offer.message_id, no(offer))
    answer = await telegram.wait_for_answer(query)
    assert answer["show_alert"] is True
    assert answer["text"] == "Only the person who sent the link or an admin can answer."
    assert offer.buttons != []
    await telegram.press(group, sender, offer.message_id, no(offer))
    await telegram.wait_for(lambda: "Nothing was queued" in (offer.content or ""))

    offer = await offered("/feed.xml")
    await telegram.press(group, admin, offer.message_id, no(offer))
    await telegram.wait_for(lambda: "Nothing was queued" in (offer.content or ""))
    assert await _recordings(local_app.settings.database_url) == []


async def test_a_playlist_is_queued_whole_when_one_progress_message_fails(
    settings: Settings, telegram: FakeTelegram, site: MediaSite
) -> None:
    local = settings.model_copy(update={"allow_private_urls": True})
    user = telegram.user(314, "Rosa", language_code="en")
    chat = telegram.private_chat(user)
    async with bot_only(local):
        await telegram.send_text(chat, user, site.url("/feed.xml"))
        offer = await _answer_to(telegram, 314, "Process them?")
        yes = next(data for text, data in offer.buttons if "Yes" in text)
        # Telegram turns down the first video's progress message.
        telegram.fail_next("sendMessage", error_code=400)
        await telegram.press(chat, user, offer.message_id, yes)
        await telegram.wait_for(lambda: "Queued: 3" in (offer.content or ""))

    assert offer.buttons == []
    rows = await _recordings(local.database_url)
    assert [r.source_name for r in rows] == ["Lecture 1", "Lecture 2", "Lecture 3"]
    assert rows[0].progress_message_id is None
    progress = [m for m in telegram.sent(314) if m.message_id != offer.message_id]
    assert [m.message_id for m in progress] == [r.progress_message_id for r in rows[1:]]
    assert [seen(m) for m in progress] == [
        "🎬 Lecture 2\n⏳ Waiting in the queue…",
        "🎬 Lecture 3\n⏳ Waiting in the queue…",
    ]
