"""The card's texts: a prompt shows what is there now, Preview shows what a platform gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bot import chat_fixtures
from tests.bot.chat_fixtures import button, reviewable, seen
from tests.conftest import RunningBot
from tests.fakes.telegram import FakeTelegram

lecture_video = chat_fixtures.lecture_video

SAYS = {
    "en": {"now": "Now:", "gets": "What File will get", "description": "📝", "title": "✏️"},
    "ru": {"now": "Сейчас:", "gets": "Что получит Файл", "description": "📝", "title": "✏️"},
}


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_prompts_show_the_current_text_and_preview_names_the_platform(
    app: RunningBot, telegram: FakeTelegram, lecture_video: Path, lang: str
) -> None:
    says = SAYS[lang]
    user_id = 1501 if lang == "en" else 1502
    user = telegram.user(user_id, "Ann", language_code=lang)
    chat = telegram.private_chat(user)
    made = await reviewable(app.settings, telegram, chat, user, lecture_video, language=lang)
    card = await telegram.wait_for_message(user_id, lambda m: "📋" in seen(m), after=0)
    metadata = (made.folder / "metadata.json").read_text(encoding="utf-8")

    mark = telegram.mark()
    await telegram.press(chat, user, card.message_id, button(card, says["title"]))
    prompt = await telegram.wait_for_message(user_id, after=mark)
    assert says["now"] in seen(prompt)
    title = seen(card).split(":", 1)[1].splitlines()[0].strip()
    assert title and title in seen(prompt), (title, seen(prompt))

    mark = telegram.mark()
    await telegram.press(chat, user, card.message_id, button(card, says["description"]))
    prompt = await telegram.wait_for_message(user_id, after=mark)
    assert says["now"] in seen(prompt) and "/cancel" in seen(prompt)
    assert "0:00" in seen(prompt) or "00:00" in seen(prompt)
    assert metadata

    mark = telegram.mark()
    await telegram.press(chat, user, card.message_id, button(card, "👁"))
    shown = await telegram.wait_for_message(user_id, after=mark)
    assert says["gets"] in seen(shown), seen(shown)
    assert title in seen(shown)
