"""Without a language model the subtitles are not translated: the card says why instead of
offering the button, and a press on an older card's button is told the same. In English and
in Russian."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.cards.callbacks import TranslateCb
from tests.bot import chat_fixtures
from tests.bot.chat_fixtures import reviewable, seen
from tests.bot.test_granularity_e2e import _card, _long_lecture, _rechapter, _say
from tests.conftest import RunningBot
from tests.fakes.telegram import FakeTelegram

lecture_video = chat_fixtures.lecture_video
telegram = chat_fixtures.slow_files_telegram
LANGS = pytest.mark.parametrize("lang", ["en", "ru"])


@LANGS
async def test_offline_the_card_says_translation_needs_a_language_model(
    app: RunningBot, telegram: FakeTelegram, lecture_video: Path, lang: str
) -> None:
    assert app.settings.llm_api_key is None
    user = telegram.user(2631 if lang == "en" else 2632, "Ann", language_code=lang)
    chat = telegram.private_chat(user)
    made = await reviewable(app.settings, telegram, chat, user, lecture_video, language=lang)
    await _long_lecture(app.settings, made.recording_id, made.folder)
    card = await _card(telegram, chat["id"], lang)

    # No chapters by a language model, no button; a press on an older card's is told why.
    assert all(_say(lang, "translate.button") not in text for text, _data in card.buttons)
    old = TranslateCb(rec=made.recording_id).pack()
    query = await telegram.press(chat, user, card.message_id, old, force=True)
    answer = await telegram.wait_for_answer(query)
    assert answer["text"] == _say(lang, "translate.offline")
    assert answer["show_alert"] is True

    # Chapters made again offline: the new card says why there is no translation.
    card = await _rechapter(telegram, chat, user, card, lang, "more")
    assert _say(lang, "translate.card_offline") in seen(card)
    assert all(_say(lang, "translate.button") not in text for text, _data in card.buttons)
    assert not (made.folder / "subtitles.en.srt").exists()
    assert not (made.folder / "subtitles.ru.srt").exists()
