"""What a recording is called: what the sender said it is, before what the file is called.

Title sources in order: the caption (also of a forwarded post), a Zoom meeting's topic or a
link's page title, then the file's name; a video recorded in Telegram has no name, so the
day names it. A title changed on the card is what /recordings shows from then on.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.bot.chat_fixtures import button, seen
from tests.conftest import RunningBot
from tests.fakes.telegram import FakeTelegram


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_a_caption_names_the_lecture_and_a_rename_reaches_the_list(
    app: RunningBot, telegram: FakeTelegram, small_video: Path, lang: str
) -> None:
    user_id = 1401 if lang == "en" else 1402
    user = telegram.user(user_id, "Ann", language_code=lang)
    chat = telegram.private_chat(user)
    caption = (
        "Lecture 3 for the Video Editing course #video\nhttps://example.org/course"
        if lang == "en"
        else "Лекция 3 курса «Видеомонтаж» #видео\nhttps://example.org/course"
    )
    title = caption.splitlines()[0].rsplit(" #", 1)[0]
    await telegram.send_video(chat, user, small_video, file_name="IMG_0042.mp4", caption=caption)
    queued = await telegram.wait_for_message(user_id, after=0)
    assert title in seen(queued)
    card = await telegram.wait_for_message(user_id, lambda m: "📋" in seen(m), after=0, timeout=120)
    assert title in seen(card) and "IMG_0042" not in seen(card)

    # Renamed on the card: /recordings knows it by the new name.
    mark = telegram.mark()
    await telegram.press(chat, user, card.message_id, button(card, "✏️"))
    prompt = await telegram.wait_for_message(user_id, after=mark)
    new = "Monday: cuts and transitions" if lang == "en" else "Понедельник: склейки и переходы"
    mark = telegram.mark()
    await telegram.send_text(chat, user, new, reply_to=prompt.message_id)
    await telegram.wait_for_message(user_id, after=mark)
    mark = telegram.mark()
    await telegram.send_text(chat, user, "/recordings")
    listing = await telegram.wait_for_message(user_id, after=mark)
    assert new in seen(listing) or new in str(listing.buttons), (seen(listing), listing.buttons)
    assert "IMG_0042" not in seen(listing) + str(listing.buttons)


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_a_forwarded_post_and_a_nameless_video_are_named_sensibly(
    app: RunningBot, telegram: FakeTelegram, small_video: Path, lang: str
) -> None:
    user_id = 1411 if lang == "en" else 1412
    user = telegram.user(user_id, "Ann", language_code=lang)
    chat = telegram.private_chat(user)
    name = "Signals and Systems, week 5" if lang == "en" else "Сигналы и системы, неделя 5"
    post = await telegram.send_video(chat, user, small_video, file_name=None, caption=name)
    post["forward_origin"] = {
        "type": "channel",
        "chat": {"id": -100777, "type": "channel", "title": "Lectures"},
        "message_id": 5,
        "date": int(time.time()),
    }
    first = await telegram.wait_for_message(user_id, after=0)
    assert name in seen(first)

    mark = telegram.mark()
    await telegram.send_video(chat, user, small_video, file_name=None)
    second = await telegram.wait_for_message(user_id, after=mark)
    assert "video-20" in seen(second) and "video.mp4" not in seen(second)
    card = await telegram.wait_for_message(
        user_id, lambda m: "📋" in seen(m) and name in seen(m), after=0, timeout=120
    )
    assert name in seen(card)
