"""Fewer or more chapters from the review card: only the topics stage (and those after it)
runs again, never trimming or transcription, and the same card, edited in place, shows the new
chapters (the chat keeps one card). Offline and with a language model (the fake
OpenAI-compatible server), in English and in Russian."""

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
from leap.settings import Settings
from locales import gettext
from storage.db import create_engine, session_maker
from storage.models import Recording, StageRun
from storage.models import Template as TemplateRow
from tests.bot import chat_fixtures
from tests.bot.chat_fixtures import button, reviewable, rows, seen
from tests.conftest import RunningBot
from tests.fakes.openai import FakeOpenAI
from tests.fakes.telegram import BotMessage, FakeTelegram
from tests.pipeline.test_text_offline_topics import _lecture

lecture_video = chat_fixtures.lecture_video
telegram = chat_fixtures.slow_files_telegram
LANGS = pytest.mark.parametrize("lang", ["en", "ru"])
LECTURE_SECONDS = 1200.0


def _say(lang: str, key: str, **params: Any) -> str:
    return re.sub(r"<[^>]*>", "", gettext(lang, key, **params))


def _plain(text: str | None) -> str:
    """One text a message had, as a person read it."""
    return html.unescape(re.sub(r"<[^>]*>", "", text or ""))


def _chapters(folder: Path) -> list[dict[str, Any]]:
    data = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    return list(data["chapters"])


async def _long_lecture(settings: Settings, recording_id: int, folder: Path) -> None:
    """The recording becomes a twenty-minute lecture of changing subjects."""
    transcript = _lecture(["photosynthesis", "castles", "programming"] * 2, LECTURE_SECONDS / 6)
    (folder / "transcript.json").write_text(transcript.model_dump_json())
    engine = create_engine(settings.database_url)
    try:
        async with session_maker(engine)() as session:
            recording = await session.get(Recording, recording_id)
            assert recording is not None
            trim = {**recording.media["trim"], "duration": LECTURE_SECONDS}
            recording.media = {**recording.media, "trim": trim}
            await session.commit()
    finally:
        await engine.dispose()


async def _card(telegram: FakeTelegram, chat_id: int, lang: str, after: int = 0) -> BotMessage:
    heading = _say(lang, "review.heading", title="").strip()
    return await telegram.wait_for_message(
        chat_id, lambda m: heading in seen(m) and bool(m.buttons), after=after, timeout=60
    )


async def _rechapter(
    telegram: FakeTelegram,
    chat: dict[str, Any],
    user: dict[str, Any],
    card: BotMessage,
    lang: str,
    choice: str,
) -> BotMessage:
    """Press the choice on the card; the card says the chapters are made again, then shows
    them, edited in place: the chat still has that one card, which is returned."""
    mark = telegram.mark()
    label = _say(lang, f"granularity.button_{choice}")
    query = await telegram.press(chat, user, card.message_id, button(card, label))
    answer = await telegram.wait_for_answer(query)
    assert answer["text"] == _say(lang, "granularity.started"), answer
    redoing = _say(lang, "granularity.redoing", choice=_say(lang, f"granularity.{choice}"))
    chosen = _say(lang, "granularity.chosen", label=label)
    await telegram.wait_for(lambda: any(redoing in _plain(t) for t in card.texts))
    await telegram.wait_for(
        lambda: redoing not in seen(card) and any(chosen == t for t, _d in card.buttons),
        timeout=60,
    )
    heading = _say(lang, "review.heading", title="").strip()
    cards = [m for m in telegram.sent(chat["id"]) if heading in seen(m)]
    assert [m.message_id for m in cards] == [card.message_id]
    assert not [m for m in telegram.sent(chat["id"]) if m.seq > mark and heading in seen(m)]
    return card


async def _runs(settings: Settings, recording_id: int) -> dict[str, int]:
    found = await rows(settings, StageRun, recording_id=recording_id)
    return {run.stage: run.attempts for run in found}


@LANGS
async def test_offline_more_chapters_than_fewer_without_transcribing_again(
    app: RunningBot, telegram: FakeTelegram, lecture_video: Path, lang: str
) -> None:
    user = telegram.user(2301 if lang == "en" else 2302, "Ann", language_code=lang)
    chat = telegram.private_chat(user)
    made = await reviewable(app.settings, telegram, chat, user, lecture_video, language=lang)
    await _long_lecture(app.settings, made.recording_id, made.folder)
    card = await _card(telegram, chat["id"], lang)
    labels = [text for text, _data in card.buttons]
    for choice in ("fewer", "normal", "more"):
        assert any(_say(lang, f"granularity.button_{choice}") in t for t in labels), labels

    # The file export is turned off on the card; the card edited in place keeps it off.
    export = platform_name(lang, "export")

    def export_on() -> bool:
        return any(t.startswith("✅") and export in t for t, _d in card.buttons)

    assert export_on()
    query = await telegram.press(chat, user, card.message_id, button(card, export))
    await telegram.wait_for_answer(query)
    await telegram.wait_for(lambda: not export_on())

    card = await _rechapter(telegram, chat, user, card, lang, "more")
    assert not export_on()
    more = _chapters(made.folder)
    card = await _rechapter(telegram, chat, user, card, lang, "fewer")
    fewer = _chapters(made.folder)
    assert len(more) > len(fewer) >= 3, (more, fewer)
    assert all(c["title"] in seen(card) for c in fewer)

    runs = await _runs(app.settings, made.recording_id)
    assert runs.get("topics") == 2, runs
    assert runs.get("compose") == 2, runs
    # Trimming and transcription are never run again.
    assert not runs.get("transcribe") and not runs.get("trim") and not runs.get("fetch"), runs
    recording = await chat_fixtures.recording_row(app.settings, made.recording_id)
    assert recording.options["granularity"] == "fewer"
    assert recording.media["topics"]["method"] == "offline"

    # The choice already made is said, and nothing runs.
    label = _say(lang, "granularity.button_fewer")
    query = await telegram.press(chat, user, card.message_id, button(card, label))
    answer = await telegram.wait_for_answer(query)
    assert answer["text"] == _say(lang, "granularity.already")
    assert (await _runs(app.settings, made.recording_id)).get("topics") == 2


@pytest.fixture
async def openai_api() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as api:
        yield api


@pytest.fixture
def settings(settings: Settings, openai_api: FakeOpenAI) -> Settings:
    """The workspace's topics come from the fake language model."""
    return settings.model_copy(
        update={
            "llm_base_url": openai_api.base_url,
            "llm_api_key": SecretStr(openai_api.api_key),
            "llm_model": "test-model",
        }
    )


def _topics_answer(body: dict[str, Any]) -> str:
    """As many topics as the request asks for, spread over the lecture."""
    asked = body["messages"][-1]["content"]
    count = int(re.search(r"about (\d+) main topics", asked).group(1))  # type: ignore[union-attr]
    step = int(LECTURE_SECONDS // count)
    topics = [
        {"start": f"00:{i * step // 60:02d}:{i * step % 60:02d}", "title": f"Part {i + 1}"}
        for i in range(count)
    ]
    return json.dumps({"summary": "A lecture.", "topics": topics, "breaks": []})


@LANGS
async def test_with_a_language_model_the_request_asks_for_more_or_fewer(
    app: RunningBot,
    telegram: FakeTelegram,
    lecture_video: Path,
    openai_api: FakeOpenAI,
    lang: str,
) -> None:
    openai_api.chat = _topics_answer
    user = telegram.user(2311 if lang == "en" else 2312, "Ann", language_code=lang)
    chat = telegram.private_chat(user)
    made = await reviewable(app.settings, telegram, chat, user, lecture_video, language=lang)
    await _long_lecture(app.settings, made.recording_id, made.folder)
    card = await _card(telegram, chat["id"], lang)

    card = await _rechapter(telegram, chat, user, card, lang, "more")
    more = _chapters(made.folder)
    asked = openai_api.calls("chat")[-1].body["messages"][-1]["content"]
    assert "Make more, finer chapters" in asked, asked

    card = await _rechapter(telegram, chat, user, card, lang, "fewer")
    fewer = _chapters(made.folder)
    asked = openai_api.calls("chat")[-1].body["messages"][-1]["content"]
    assert "Make fewer, broader chapters" in asked, asked
    assert len(more) > len(fewer), (more, fewer)
    recording = await chat_fixtures.recording_row(app.settings, made.recording_id)
    assert recording.media["topics"]["method"] == "llm"
    assert not openai_api.calls("transcriptions")


@LANGS
async def test_a_template_sets_its_granularity_from_a_file_and_its_card(
    app: RunningBot, telegram: FakeTelegram, lang: str
) -> None:
    user = telegram.user(2321 if lang == "en" else 2322, "Ann", language_code=lang)
    chat = telegram.private_chat(user)
    body = {"name": "Seminars", "match": {"keywords_any": ["seminar"]}, "granularity": "lots"}
    await telegram.send_document(
        chat, user, json.dumps(body).encode(), file_name="t.json", mime_type="application/json"
    )
    refusal = await telegram.wait_for_message(chat["id"], lambda m: "granularity" in seen(m))
    assert await rows(app.settings, TemplateRow) == [], seen(refusal)

    body["granularity"] = "more"
    mark = telegram.mark()
    await telegram.send_document(
        chat, user, json.dumps(body).encode(), file_name="t.json", mime_type="application/json"
    )
    more = _say(lang, "granularity.template_button", choice=_say(lang, "granularity.more"))
    card = await telegram.wait_for_message(
        chat["id"], lambda m: any(more == t for t, _d in m.buttons), after=mark
    )
    assert (await rows(app.settings, TemplateRow))[0].body["granularity"] == "more"

    # The switch goes round: more → fewer → normal.
    await telegram.press(chat, user, card.message_id, button(card, more))
    fewer = _say(lang, "granularity.template_button", choice=_say(lang, "granularity.fewer"))
    await telegram.wait_for(lambda: any(fewer == t for t, _d in card.buttons))
    await telegram.press(chat, user, card.message_id, button(card, fewer))
    normal = _say(lang, "granularity.template_button", choice=_say(lang, "granularity.normal"))
    await telegram.wait_for(lambda: any(normal == t for t, _d in card.buttons))
    assert (await rows(app.settings, TemplateRow))[0].body["granularity"] == "normal"
