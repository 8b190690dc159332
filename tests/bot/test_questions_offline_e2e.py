"""Without a language model the review card offers no self-check questions and says why, in
the recording's language; an old Questions button says the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.cards.questions import OPEN, QuestionsCb
from tests.bot import chat_fixtures
from tests.bot.chat_fixtures import reviewable, seen
from tests.bot.test_granularity_e2e import _card, _long_lecture, _rechapter, _say
from tests.conftest import RunningBot
from tests.fakes.telegram import FakeTelegram

lecture_video = chat_fixtures.lecture_video
telegram = chat_fixtures.slow_files_telegram
LANGS = pytest.mark.parametrize("lang", ["en", "ru"])


@LANGS
async def test_offline_the_card_says_why_there_are_no_questions(
    app: RunningBot, telegram: FakeTelegram, lecture_video: Path, lang: str
) -> None:
    user = telegram.user(2511 if lang == "en" else 2512, "Ann", language_code=lang)
    chat = telegram.private_chat(user)
    made = await reviewable(app.settings, telegram, chat, user, lecture_video, language=lang)
    await _long_lecture(app.settings, made.recording_id, made.folder)
    card = await _card(telegram, chat["id"], lang)
    card = await _rechapter(telegram, chat, user, card, lang, "more")
    assert _say(lang, "questions.offline") in seen(card)
    assert not any(_say(lang, "questions.button") in label for label, _data in card.buttons)

    data = QuestionsCb(a=OPEN, rec=made.recording_id).pack()
    query = await telegram.press(chat, user, card.message_id, data, force=True)
    answer = await telegram.wait_for_answer(query)
    assert answer["text"] == _say(lang, "questions.offline_short")
