"""The language model's summary: checked (said, short enough, in the lecture's language),
asked for again once, else none and the card says so. In English and in Russian."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from leap.settings import Settings
from tests.bot import chat_fixtures
from tests.bot.chat_fixtures import reviewable, seen
from tests.bot.test_granularity_e2e import (
    LECTURE_SECONDS,
    _card,
    _long_lecture,
    _rechapter,
    _say,
)
from tests.bot.test_summary_e2e import _description, _topics_summary
from tests.conftest import RunningBot
from tests.fakes.openai import FakeOpenAI
from tests.fakes.telegram import BotMessage, FakeTelegram

lecture_video = chat_fixtures.lecture_video
telegram = chat_fixtures.slow_files_telegram
LANGS = pytest.mark.parametrize("lang", ["en", "ru"])


@pytest.fixture
async def openai_api() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as api:
        yield api


@pytest.fixture
def settings(settings: Settings, openai_api: FakeOpenAI) -> Settings:
    return settings.model_copy(
        update={
            "llm_base_url": openai_api.base_url,
            "llm_api_key": SecretStr(openai_api.api_key),
            "llm_model": "test-model",
        }
    )


def _topics(summary: str) -> str:
    step = int(LECTURE_SECONDS // 4)
    topics = [{"start": f"00:{i * step // 60:02d}:00", "title": f"Part {i + 1}"} for i in range(4)]
    return json.dumps({"summary": summary, "topics": topics, "breaks": []})


SUMMARIES = {
    "en": "The lecture covers photosynthesis, castles and programming. Each comes twice.",
    "ru": "Лекция о фотосинтезе, замках и программировании. Каждая тема звучит дважды.",
}


async def _llm_card(
    app: RunningBot,
    telegram: FakeTelegram,
    lecture_video: Path,
    lang: str,
    user_id: int,
) -> tuple[chat_fixtures.Reviewable, BotMessage]:
    user = telegram.user(user_id, "Ann", language_code=lang)
    chat = telegram.private_chat(user)
    made = await reviewable(app.settings, telegram, chat, user, lecture_video, language=lang)
    await _long_lecture(app.settings, made.recording_id, made.folder)
    if lang == "ru":
        # The lecture is heard in Russian: its summary must be Russian too.
        path = made.folder / "transcript.json"
        data: dict[str, Any] = json.loads(path.read_text())
        path.write_text(json.dumps({**data, "language": "ru"}))
    card = await _card(telegram, chat["id"], lang)
    return made, await _rechapter(telegram, chat, user, card, lang, "more")


@LANGS
async def test_a_summary_in_another_language_is_asked_for_again_once(
    app: RunningBot,
    telegram: FakeTelegram,
    lecture_video: Path,
    openai_api: FakeOpenAI,
    lang: str,
) -> None:
    other = SUMMARIES["ru" if lang == "en" else "en"]
    openai_api.reply(_topics(other), json.dumps({"summary": SUMMARIES[lang]}))
    made, card = await _llm_card(app, telegram, lecture_video, lang, 2411 if lang == "en" else 2412)
    calls = openai_api.calls("chat")
    assert len(calls) == 2
    assert "not in the language of the lecture" in calls[1].body["messages"][-1]["content"]
    assert SUMMARIES[lang] in seen(card)
    assert SUMMARIES[lang] in _description(made.folder)
    assert _say(lang, "review.summary_missing") not in seen(card)


@LANGS
async def test_a_summary_still_unusable_after_the_retry_leaves_a_note(
    app: RunningBot,
    telegram: FakeTelegram,
    lecture_video: Path,
    openai_api: FakeOpenAI,
    lang: str,
) -> None:
    openai_api.reply(_topics(""), "this is not JSON")
    made, card = await _llm_card(app, telegram, lecture_video, lang, 2421 if lang == "en" else 2422)
    assert len(openai_api.calls("chat")) == 2
    assert _say(lang, "review.summary_missing") in seen(card)
    assert _topics_summary(made.folder) == ""
    # The chapters the model found are kept.
    assert "Part 4" in seen(card)
