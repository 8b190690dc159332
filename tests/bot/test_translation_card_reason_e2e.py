"""The card's word on subtitle translation is honest about the language model: with a key set
whose topics request failed (the offline method made the chapters), the card still offers the
translation and never says no key is set; without a key it says so. In English and Russian."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from leap.settings import Settings
from tests.bot import chat_fixtures
from tests.bot.chat_fixtures import reviewable, seen
from tests.bot.test_granularity_e2e import _card, _long_lecture, _rechapter, _say
from tests.conftest import RunningBot
from tests.fakes.openai import FakeOpenAI, Fault
from tests.fakes.telegram import FakeTelegram

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
            "llm_api_key": SecretStr(openai_api.api_key or ""),
            "llm_model": "test-model",
        }
    )


@LANGS
async def test_a_failed_topics_request_with_a_key_set_still_offers_translation(
    app: RunningBot,
    telegram: FakeTelegram,
    lecture_video: Path,
    openai_api: FakeOpenAI,
    lang: str,
) -> None:
    user = telegram.user(2671 if lang == "en" else 2672, "Ann", language_code=lang)
    chat = telegram.private_chat(user)
    made = await reviewable(app.settings, telegram, chat, user, lecture_video, language=lang)
    await _long_lecture(app.settings, made.recording_id, made.folder)
    card = await _card(telegram, chat["id"], lang)

    # The model refuses the topics request: the offline method makes the chapters.
    openai_api.fail("chat", Fault(status=401, message="Invalid API key"))
    card = await _rechapter(telegram, chat, user, card, lang, "more")
    recording = await chat_fixtures.recording_row(app.settings, made.recording_id)
    assert recording.media["topics"]["method"] == "offline"
    assert recording.media["topics"]["llm"] is True
    assert len(openai_api.calls("chat")) >= 1

    assert _say(lang, "translate.card_offline") not in seen(card)
    assert _say(lang, "translate.button") in [text for text, _data in card.buttons]
