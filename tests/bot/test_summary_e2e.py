"""The lecture's summary: on the review card and in the description, written by the language
model (checked, asked again once, else none and the card says so) or taken from the opening
sentences offline, and edited in the chat like the title. In English and in Russian."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from storage.models import AuditEvent
from tests.bot import chat_fixtures
from tests.bot.chat_fixtures import button, reviewable, rows, seen
from tests.bot.test_granularity_e2e import (
    _card,
    _long_lecture,
    _rechapter,
    _say,
)
from tests.conftest import RunningBot
from tests.fakes.telegram import FakeTelegram

lecture_video = chat_fixtures.lecture_video
telegram = chat_fixtures.slow_files_telegram
LANGS = pytest.mark.parametrize("lang", ["en", "ru"])


def _description(folder: Path) -> str:
    data = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    return str(data["description"])


def _topics_summary(folder: Path) -> str:
    return str(json.loads((folder / "topics.json").read_text(encoding="utf-8"))["summary"])


@LANGS
async def test_offline_the_summary_is_the_opening_sentences_and_a_person_rewrites_it(
    app: RunningBot, telegram: FakeTelegram, lecture_video: Path, lang: str
) -> None:
    user = telegram.user(2401 if lang == "en" else 2402, "Ann", language_code=lang)
    chat = telegram.private_chat(user)
    made = await reviewable(app.settings, telegram, chat, user, lecture_video, language=lang)
    await _long_lecture(app.settings, made.recording_id, made.folder)
    card = await _card(telegram, chat["id"], lang)
    card = await _rechapter(telegram, chat, user, card, lang, "more")

    found = _topics_summary(made.folder)
    assert found
    assert _say(lang, "review.summary_opening") in seen(card)
    assert found in seen(card)
    assert found in _description(made.folder)

    # Summary: the prompt shows the current text, the reply replaces it.
    mark = telegram.mark()
    await telegram.press(chat, user, card.message_id, button(card, _say(lang, "review.button_sum")))
    ask = _say(lang, "review.ask_summary")
    prompt = await telegram.wait_for_message(chat["id"], lambda m: ask in seen(m), after=mark)
    assert found[:200] in seen(prompt)

    mark = telegram.mark()
    await telegram.send_text(chat, user, "x" * 1001, reply_to=prompt.message_id)
    refusal = _say(lang, "review.summary_length", limit=1000)
    await telegram.wait_for_message(chat["id"], lambda m: refusal in seen(m), after=mark)

    mine = (
        "Photosynthesis, castles and programming, twice over."
        if lang == "en"
        else "Фотосинтез, замки и программирование, дважды."
    )
    mark = telegram.mark()
    await telegram.send_text(chat, user, mine, reply_to=prompt.message_id)
    saved = _say(lang, "review.saved")
    await telegram.wait_for_message(chat["id"], lambda m: saved in seen(m), after=mark)
    await telegram.wait_for(lambda: mine in seen(card))
    assert _say(lang, "review.summary_opening") not in seen(card)
    assert _say(lang, "review.summary") in seen(card)
    assert mine in _description(made.folder)
    assert _topics_summary(made.folder) == mine
    assert [e.user_id for e in await rows(app.settings, AuditEvent, action="summary_changed")] == [
        user["id"]
    ]

    # A person's summary outlives the chapters being made again.
    card = await _rechapter(telegram, chat, user, card, lang, "fewer")
    assert mine in seen(card) and mine in _description(made.folder)


async def test_a_recording_too_short_gets_no_summary(
    app: RunningBot, telegram: FakeTelegram, lecture_video: Path
) -> None:
    user = telegram.user(2405, "Ann", language_code="en")
    chat = telegram.private_chat(user)
    made = await reviewable(app.settings, telegram, chat, user, lecture_video)
    card = await _card(telegram, chat["id"], "en")
    card = await _rechapter(telegram, chat, user, card, "en", "more")
    assert _topics_summary(made.folder) == ""
    assert _say("en", "review.summary") not in seen(card)
    assert _say("en", "review.summary_missing") not in seen(card)
