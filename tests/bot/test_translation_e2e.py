"""Subtitle translation from the review card, driven like a person through the fake Bot API,
with the fake language model checking every request: the card's button, the choice of
language (the other of Russian and English first), progress and the outcome on the card, the
file in the chat; a model that answers badly twice ends in a clear message. Both directions,
in both of the bot's languages."""

from __future__ import annotations

import html
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from jobs.cards import platform_name
from jobs.cards.callbacks import TranslateCb
from leap.settings import Settings
from locales.format import language_name
from pipeline.subtitles import Cue, to_srt, width
from pipeline.translation import parse_srt
from storage.db import create_engine, session_maker
from storage.models import Recording
from tests.bot import chat_fixtures
from tests.bot.chat_fixtures import button, reviewable, seen
from tests.bot.test_granularity_e2e import _card, _say
from tests.conftest import RunningBot
from tests.fakes.openai import FakeOpenAI
from tests.fakes.telegram import BotMessage, FakeTelegram
from tests.fakes.translator import SubtitleModel

lecture_video = chat_fixtures.lecture_video
telegram = chat_fixtures.slow_files_telegram

SHORT = "Коротко говоря."
LONG = (
    "In short, the rate at which we sample has to be more than twice the highest "
    "frequency the signal carries, or the samples describe a slower wave instead."
)
LECTURE = {
    "ru": [
        (1.0, 3.5, "Добрый день, сегодня мы говорим"),
        (3.5, 6.0, "о дискретизации сигналов."),
        (6.5, 8.0, SHORT),
        (20.0, 24.0, "Частота должна быть больше"),
        (24.0, 28.0, "удвоенной наибольшей частоты."),
    ],
    "en": [
        (1.0, 3.5, "Good afternoon, today we talk"),
        (3.5, 6.0, "about sampling signals."),
        (6.5, 8.0, "In short."),
        (20.0, 24.0, "The rate must be higher"),
        (24.0, 28.0, "than twice the highest frequency."),
    ],
}
RU_TO_EN = {
    "Добрый день, сегодня мы говорим": "Good afternoon, today we talk",
    "о дискретизации сигналов.": "about sampling signals.",
    SHORT: LONG,
    "Частота должна быть больше": "The rate must be higher",
    "удвоенной наибольшей частоты.": "than twice the highest frequency.",
}
EN_TO_RU = {
    "Good afternoon, today we talk": "Добрый день, сегодня мы говорим",
    "about sampling signals.": "о дискретизации сигналов.",
    "In short.": (
        "Коротко говоря, частота, с которой мы берём отсчёты, должна быть больше удвоенной "
        "наибольшей частоты сигнала, иначе отсчёты описывают более медленную волну."
    ),
    "The rate must be higher": "Частота должна быть больше",
    "than twice the highest frequency.": "удвоенной наибольшей частоты.",
}
NAMED = {"ru": "Russian", "en": "English"}
# (the bot's language, the lecture's language)
CASES = pytest.mark.parametrize(("lang", "source"), [("en", "ru"), ("ru", "en")])


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


def _model(source: str) -> SubtitleModel:
    target = "en" if source == "ru" else "ru"
    glossary = RU_TO_EN if source == "ru" else EN_TO_RU
    return SubtitleModel(NAMED[source], NAMED[target], glossary)


async def _review(
    app: RunningBot,
    telegram: FakeTelegram,
    video: Path,
    lang: str,
    source: str,
    user_id: int,
) -> tuple[chat_fixtures.Reviewable, dict[str, Any], dict[str, Any], BotMessage]:
    user = telegram.user(user_id, "Ann", language_code=lang)
    chat = telegram.private_chat(user)
    made = await reviewable(
        app.settings, telegram, chat, user, video, language=lang, transcript={"language": source}
    )
    cues = [Cue(start, end, [text]) for start, end, text in LECTURE[source]]
    (made.folder / "subtitles.srt").write_text(to_srt(cues), encoding="utf-8")
    card = await _card(telegram, chat["id"], lang)
    await made_by_model(app.settings, made.recording_id)
    return made, chat, user, await redrawn(telegram, chat, user, card, lang)


async def made_by_model(settings: Settings, recording_id: int) -> None:
    """The recording's chapters came from the language model, as the topics stage records."""
    engine = create_engine(settings.database_url)
    try:
        async with session_maker(engine)() as session:
            recording = await session.get(Recording, recording_id)
            assert recording is not None
            recording.media = {**recording.media, "topics": {"count": 4, "method": "llm"}}
            await session.commit()
    finally:
        await engine.dispose()


async def redrawn(
    telegram: FakeTelegram, chat: dict[str, Any], user: dict[str, Any], card: BotMessage, lang: str
) -> BotMessage:
    """The card drawn again from what is stored: the file toggle pressed off and on."""
    for _ in range(2):
        query = await telegram.press(
            chat, user, card.message_id, button(card, platform_name(lang, "export"))
        )
        await telegram.wait_for_answer(query)
    label = _say(lang, "translate.button")
    await telegram.wait_for(lambda: any(label == t for t, _d in card.buttons))
    await telegram.wait_for(lambda: any(t.startswith("✅") for t, _d in card.buttons))
    return card


async def _choose(
    telegram: FakeTelegram, chat: dict[str, Any], user: dict[str, Any], card: BotMessage, lang: str
) -> BotMessage:
    """Press the card's Translate button; the question with the languages is returned."""
    mark = telegram.mark()
    query = await telegram.press(
        chat, user, card.message_id, button(card, _say(lang, "translate.button"))
    )
    await telegram.wait_for_answer(query)
    return await telegram.wait_for_message(
        chat["id"], lambda m: any(d.startswith("rl1:") for _t, d in m.buttons), after=mark
    )


@CASES
async def test_the_card_translates_the_subtitles_into_the_other_language(
    app: RunningBot,
    telegram: FakeTelegram,
    lecture_video: Path,
    openai_api: FakeOpenAI,
    lang: str,
    source: str,
) -> None:
    model = _model(source)
    openai_api.chat_check, openai_api.chat = model.check, model.answer
    target = "en" if source == "ru" else "ru"
    made, chat, user, card = await _review(
        app, telegram, lecture_video, lang, source, 2601 if lang == "en" else 2602
    )
    chooser = await _choose(telegram, chat, user, card, lang)
    named = language_name(lang, target)
    usual = _say(lang, "translate.choose_default", language=named[:1].upper() + named[1:])
    assert chooser.buttons[0][0] == usual, chooser.buttons
    assert all(language_name(lang, source).lower() != t.lower() for t, _d in chooser.buttons)

    mark = telegram.mark()
    query = await telegram.press(chat, user, chooser.message_id, button(chooser, "★"))
    answer = await telegram.wait_for_answer(query)
    assert answer["text"] == _say(lang, "translate.started", language=named[:1].upper() + named[1:])
    document = await telegram.wait_for_message(
        chat["id"], lambda m: m.document is not None, after=mark, timeout=30
    )
    assert seen(document) == _say(lang, "translate.file_caption", language=named)
    assert document.document is not None
    assert document.document.file_name == f"signals-lecture.{target}.srt"

    translated = parse_srt((made.folder / f"subtitles.{target}.srt").read_text(encoding="utf-8"))
    assert document.document.data.decode() == to_srt(translated)
    assert (made.folder / f"subtitles.{target}.vtt").is_file()
    done = _say(lang, "translate.card_done", language=named, count=len(translated))
    await telegram.wait_for(lambda: done in seen(card))
    # While the batches came in, the card counted them.
    drawn = [html.unescape(re.sub(r"<[^>]*>", "", t or "")) for t in card.texts]
    for finished in (0, 1):
        running = _say(lang, "translate.card_running", language=named, done=finished, total=1)
        assert any(running in text for text in drawn), drawn
    assert _say(lang, "translate.button") in [t for t, _d in card.buttons]

    # Every cue keeps its time; the long translation is shared out within its own cue.
    originals = LECTURE[source]
    assert len(translated) > len(originals)
    for start, end, _text in originals:
        inside = [c for c in translated if start <= c.start and c.end <= end]
        assert inside and inside[0].start == start and inside[-1].end == end
    for cue in translated:
        assert len(cue.lines) <= 2 and all(width(line) <= 42 for line in cue.lines)
        assert 0 < cue.end - cue.start <= 7.0
    long_cue = [c for c in translated if 6.5 <= c.start and c.end <= 8.0]
    assert len(long_cue) >= 2

    assert openai_api.refused == []
    assert model.batches == [[1, 2, 3, 4, 5]]
    recording = await chat_fixtures.recording_row(app.settings, made.recording_id)
    assert recording.media["translations"][target] == {"status": "done", "cues": len(translated)}


def _bad(kind: str, source: str) -> str:
    """An unusable answer: not JSON, the wrong number of cues, or the source sent back."""
    if kind == "json":
        return "Sure! Here are your subtitles, translated with care."
    if kind == "count":
        return json.dumps({"cues": [{"id": 1, "text": "all of it"}]})
    echoed = [{"id": i + 1, "text": t} for i, (_s, _e, t) in enumerate(LECTURE[source])]
    return json.dumps({"cues": echoed}, ensure_ascii=False)


# What the repair request tells the model about each kind of unusable answer.
PROBLEM = {"json": "not valid JSON", "count": "expected 5 cues", "language": "not in"}


@pytest.mark.parametrize(
    ("lang", "source", "first", "second"),
    [
        ("en", "ru", "json", "count"),
        ("ru", "en", "count", "language"),
        ("ru", "ru", "language", "json"),
    ],
)
async def test_a_model_that_answers_badly_twice_ends_in_a_clear_message(
    app: RunningBot,
    telegram: FakeTelegram,
    lecture_video: Path,
    openai_api: FakeOpenAI,
    lang: str,
    source: str,
    first: str,
    second: str,
) -> None:
    model = _model(source)
    openai_api.chat_check = model.check
    openai_api.reply(_bad(first, source), _bad(second, source))
    target = "en" if source == "ru" else "ru"
    user_id = {"json": 2611, "count": 2612, "language": 2613}[first]
    made, chat, user, card = await _review(app, telegram, lecture_video, lang, source, user_id)
    chooser = await _choose(telegram, chat, user, card, lang)
    mark = telegram.mark()
    await telegram.press(chat, user, chooser.message_id, button(chooser, "★"))
    named = language_name(lang, target)
    reason = _say(lang, "translate.reason_bad_answer")
    told = await telegram.wait_for_message(
        chat["id"], lambda m: reason in seen(m), after=mark, timeout=30
    )
    assert seen(told) == _say(
        lang, "translate.failed_message", title="signals-lecture.mp4", language=named, reason=reason
    )
    failed = _say(lang, "translate.card_failed", language=named, reason=reason)
    await telegram.wait_for(lambda: failed in seen(card))
    assert len(openai_api.calls("chat")) == 2 and model.repairs == 1
    assert PROBLEM[first] in openai_api.calls("chat")[1].body["messages"][-1]["content"]
    assert openai_api.refused == []
    assert not (made.folder / f"subtitles.{target}.srt").exists()
    assert not [m for m in telegram.sent(chat["id"]) if m.document and m.seq > mark]


@CASES
async def test_a_forged_language_or_the_lectures_own_is_refused(
    app: RunningBot,
    telegram: FakeTelegram,
    lecture_video: Path,
    openai_api: FakeOpenAI,
    lang: str,
    source: str,
) -> None:
    made, chat, user, card = await _review(
        app, telegram, lecture_video, lang, source, 2621 if lang == "en" else 2622
    )
    forged = TranslateCb(rec=made.recording_id, to="xx").pack()
    query = await telegram.press(chat, user, card.message_id, forged, force=True)
    answer = await telegram.wait_for_answer(query)
    assert answer["text"] == _say(lang, "translate.unknown_language")
    assert answer["show_alert"] is True

    own = TranslateCb(rec=made.recording_id, to=source).pack()
    query = await telegram.press(chat, user, card.message_id, own, force=True)
    answer = await telegram.wait_for_answer(query)
    named = language_name(lang, source)
    assert answer["text"] == _say(
        lang, "translate.same_language", language=named[:1].upper() + named[1:]
    )
    assert openai_api.calls("chat") == []


@CASES
async def test_a_second_press_while_translating_is_told_so(
    app: RunningBot,
    telegram: FakeTelegram,
    lecture_video: Path,
    openai_api: FakeOpenAI,
    lang: str,
    source: str,
) -> None:
    model = _model(source)
    openai_api.chat_check, openai_api.chat = model.check, model.answer
    openai_api.latency = 1.0
    target = "en" if source == "ru" else "ru"
    made, chat, user, card = await _review(
        app, telegram, lecture_video, lang, source, 2641 if lang == "en" else 2642
    )
    chooser = await _choose(telegram, chat, user, card, lang)
    data = button(chooser, "★")
    mark = telegram.mark()
    first = await telegram.press(chat, user, chooser.message_id, data)
    await telegram.wait_for_answer(first)
    again = await telegram.press(chat, user, chooser.message_id, data, force=True)
    answer = await telegram.wait_for_answer(again)
    named = language_name(lang, target)
    assert answer["text"] == _say(lang, "translate.already", language=named[:1].upper() + named[1:])
    await telegram.wait_for_message(
        chat["id"], lambda m: m.document is not None, after=mark, timeout=30
    )
    assert len(openai_api.calls("chat")) == 1
    assert (made.folder / f"subtitles.{target}.srt").is_file()


@CASES
async def test_a_published_recording_is_translated_from_its_outcome_card(
    app: RunningBot,
    telegram: FakeTelegram,
    lecture_video: Path,
    openai_api: FakeOpenAI,
    lang: str,
    source: str,
) -> None:
    model = _model(source)
    openai_api.chat_check, openai_api.chat = model.check, model.answer
    target = "en" if source == "ru" else "ru"
    made, chat, user, card = await _review(
        app, telegram, lecture_video, lang, source, 2651 if lang == "en" else 2652
    )
    query = await telegram.press(
        chat, user, card.message_id, button(card, _say(lang, "review.button_pub"))
    )
    await telegram.wait_for_answer(query)
    again = _say(lang, "recs.button_publish_again")
    await telegram.wait_for(lambda: any(t == again for t, _d in card.buttons), timeout=30)
    assert _say(lang, "translate.button") in [t for t, _d in card.buttons]

    chooser = await _choose(telegram, chat, user, card, lang)
    mark = telegram.mark()
    await telegram.press(chat, user, chooser.message_id, button(chooser, "★"))
    await telegram.wait_for_message(
        chat["id"], lambda m: m.document is not None and m.seq > mark, after=mark, timeout=30
    )
    named = language_name(lang, target)
    translated = parse_srt((made.folder / f"subtitles.{target}.srt").read_text(encoding="utf-8"))
    done = _say(lang, "translate.card_done_after", language=named, count=len(translated))
    await telegram.wait_for(lambda: done in seen(card))
    # The outcome card keeps what it offered.
    assert again in [t for t, _d in card.buttons]
    assert openai_api.refused == []


async def test_a_group_member_translates_and_is_answered_in_their_own_language(
    app: RunningBot, telegram: FakeTelegram, lecture_video: Path, openai_api: FakeOpenAI
) -> None:
    model = _model("ru")
    openai_api.chat_check, openai_api.chat = model.check, model.answer
    group = telegram.group(-100661, "Signals course")
    owner = telegram.user(2661, "Olga", language_code="en")
    student = telegram.user(2662, "Саша", language_code="ru")
    telegram.set_admins(group["id"], [owner["id"]], creator=owner["id"])
    made = await reviewable(
        app.settings, telegram, group, owner, lecture_video, transcript={"language": "ru"}
    )
    cues = [Cue(start, end, [text]) for start, end, text in LECTURE["ru"]]
    (made.folder / "subtitles.srt").write_text(to_srt(cues), encoding="utf-8")
    card = await _card(telegram, group["id"], "en")
    await made_by_model(app.settings, made.recording_id)
    card = await redrawn(telegram, group, owner, card, "en")

    # The group speaks English: the question is the chat's, the alerts are the presser's.
    mark = telegram.mark()
    await telegram.send_text(group, owner, "/language en")
    await telegram.wait_for_message(group["id"], lambda m: True, after=mark)
    chooser = await _choose(telegram, group, student, card, "en")
    assert chooser.buttons[0][0] == _say("en", "translate.choose_default", language="English")
    forged = TranslateCb(rec=made.recording_id, to="xx").pack()
    query = await telegram.press(group, student, chooser.message_id, forged, force=True)
    answer = await telegram.wait_for_answer(query)
    assert answer["text"] == _say("ru", "translate.unknown_language")

    query = await telegram.press(group, student, chooser.message_id, button(chooser, "★"))
    answer = await telegram.wait_for_answer(query)
    assert answer["text"] == _say("ru", "translate.started", language="Английский")
    await telegram.wait_for(lambda: "🌐 Subtitles in English" in seen(card), timeout=30)
    translated = parse_srt((made.folder / "subtitles.en.srt").read_text(encoding="utf-8"))
    done = _say("en", "translate.card_done", language="English", count=len(translated))
    assert done in seen(card)
