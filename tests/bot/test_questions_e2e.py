"""Self-check questions from the review card, driven like a person through the fake Bot API and
the fake OpenAI-compatible server (which checks every questions request: JSON mode and shape,
the lecture's language, the batch size). In English and in Russian: the language model writes
them, the chat shows them, sends them as quiz polls, drops one, takes a pasted list (naming
what is wrong first), and says clearly when the model answers badly twice; a template places
them with {{ questions }} and asks for the channel quiz."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from leap.settings import Settings
from storage.models import AuditEvent
from tests.bot import chat_fixtures
from tests.bot.chat_fixtures import button, reviewable, rows, seen
from tests.bot.test_granularity_e2e import _card, _long_lecture, _rechapter, _say
from tests.bot.test_summary_llm_e2e import SUMMARIES, _topics
from tests.conftest import RunningBot
from tests.fakes.openai import FakeOpenAI
from tests.fakes.quiz_llm import QUESTIONS, QuizModel, good_answer
from tests.fakes.telegram import BotMessage, FakeTelegram

lecture_video = chat_fixtures.lecture_video
telegram = chat_fixtures.slow_files_telegram
LANGS = pytest.mark.parametrize("lang", ["en", "ru"])

PASTED = {
    "en": "1. [0:01:00] What is a moat?\n+ Water around a castle\n- A tower\n"
    "> It keeps attackers away.\n\n2. Which runs code again?\n- if\n+ a loop",
    "ru": "1. [0:01:00] Что такое ров?\n+ Вода вокруг замка\n- Башня\n"
    "> Он не пускает врагов.\n\n2. Что повторяет код?\n- условие\n+ цикл",
}


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


def _model(openai_api: FakeOpenAI, lang: str) -> QuizModel:
    """Questions requests go to the checking quiz model; chapters get four topics."""
    model = QuizModel(lang)

    def answer(body: dict[str, Any]) -> str:
        if "self-check questions" in body["messages"][0]["content"]:
            return model(body)
        return _topics(SUMMARIES[lang])

    openai_api.chat = answer
    return model


async def _with_template(
    telegram: FakeTelegram, chat: dict[str, Any], user: dict[str, Any]
) -> None:
    body = {
        "name": "Self-check",
        "description_template": "{{ summary }}\n\nQ:\n{{ questions }}\n\n{{ chapters }}",
        "quiz_channel": True,
    }
    mark = telegram.mark()
    await telegram.send_document(
        chat, user, json.dumps(body).encode(), file_name="t.json", mime_type="application/json"
    )
    await telegram.wait_for_message(chat["id"], lambda m: "Self-check" in seen(m), after=mark)


async def _press(
    telegram: FakeTelegram,
    chat: dict[str, Any],
    user: dict[str, Any],
    message: BotMessage,
    label: str,
) -> dict[str, Any]:
    query = await telegram.press(chat, user, message.message_id, button(message, label))
    return await telegram.wait_for_answer(query)


def _description(folder: Path) -> str:
    return str(json.loads((folder / "metadata.json").read_text(encoding="utf-8"))["description"])


@LANGS
async def test_questions_are_written_shown_sent_as_quizzes_dropped_and_replaced(
    app: RunningBot,
    telegram: FakeTelegram,
    lecture_video: Path,
    openai_api: FakeOpenAI,
    lang: str,
) -> None:
    model = _model(openai_api, lang)
    user = telegram.user(2501 if lang == "en" else 2502, "Ann", language_code=lang)
    chat = telegram.private_chat(user)
    await _with_template(telegram, chat, user)
    made = await reviewable(app.settings, telegram, chat, user, lecture_video, language=lang)
    await _long_lecture(app.settings, made.recording_id, made.folder)
    transcript = made.folder / "transcript.json"
    transcript.write_text(json.dumps({**json.loads(transcript.read_text()), "language": lang}))
    card = await _card(telegram, chat["id"], lang)
    # The template asks for the channel quiz, so the questions are written with the chapters.
    model.replies.append(good_answer(lang, 4))
    card = await _rechapter(telegram, chat, user, card, lang, "more")
    assert _say(lang, "questions.offline") not in seen(card)
    assert model.problems == []
    assert len(model.asked) == 1
    assert _say(lang, "questions.button_count", count=4) in str(card.buttons)
    assert QUESTIONS[lang][0][0] in _description(made.folder)

    # Questions: shown with their times and answers.
    mark = telegram.mark()
    await _press(telegram, chat, user, card, _say(lang, "questions.button_count", count=4))
    heading = _say(lang, "questions.heading", name="").strip()
    listed = await telegram.wait_for_message(
        chat["id"], lambda m: heading in seen(m) and bool(m.buttons), after=mark
    )
    for text, answers, right, _at in QUESTIONS[lang]:
        assert text in seen(listed) and f"✅ {answers[right]}" in seen(listed)
    assert "[0:04:10]" in seen(listed)
    assert _say(lang, "questions.channel_chosen") in seen(listed)

    # Sent as quiz polls in the chat: the right option and the explanation with its time.
    mark = telegram.mark()
    await _press(telegram, chat, user, listed, _say(lang, "questions.button_quiz"))
    await telegram.wait_for(
        lambda: len([m for m in telegram.sent(chat["id"])[mark:] if m.poll]) == 4
    )
    polls = [m.poll for m in telegram.sent(chat["id"])[mark:] if m.poll]
    assert [p["question"] for p in polls] == [q[0] for q in QUESTIONS[lang]]
    assert [p["correct_option_id"] for p in polls] == [q[2] for q in QUESTIONS[lang]]
    assert all(p["type"] == "quiz" for p in polls)
    assert polls[0]["explanation"].endswith("⏱ 0:30")

    # Drop one: the second goes.
    await _press(telegram, chat, user, listed, _say(lang, "questions.button_drop"))
    await telegram.wait_for(lambda: _say(lang, "questions.ask_drop") in seen(listed))
    answer = await _press(
        telegram, chat, user, listed, _say(lang, "questions.button_drop_number", number=2)
    )
    assert answer["text"] == _say(lang, "questions.dropped", number=2)
    await telegram.wait_for(lambda: QUESTIONS[lang][1][0] not in seen(listed) and listed.buttons)
    assert QUESTIONS[lang][2][0] in seen(listed)

    # Replace: what is wrong is named with the question's number, then a good list is saved.
    mark = telegram.mark()
    await _press(telegram, chat, user, listed, _say(lang, "questions.button_replace"))
    ask = _say(lang, "questions.ask_list").splitlines()[0]
    prompt = await telegram.wait_for_message(chat["id"], lambda m: ask in seen(m), after=mark)
    assert QUESTIONS[lang][0][0] in seen(prompt)
    mark = telegram.mark()
    await telegram.send_text(chat, user, "1. Q?\n+ a\n+ b", reply_to=prompt.message_id)
    many = _say(
        lang, "questions.problem_at", number=1, problem=_say(lang, "questions.problem.many_right")
    )
    refusal = await telegram.wait_for_message(chat["id"], lambda m: many in seen(m), after=mark)
    assert _say(lang, "questions.not_saved") in seen(refusal)
    mark = telegram.mark()
    await telegram.send_text(chat, user, PASTED[lang], reply_to=prompt.message_id)
    saved = _say(lang, "questions.saved", count=2)
    await telegram.wait_for_message(chat["id"], lambda m: saved in seen(m), after=mark)
    shown = await telegram.wait_for_message(chat["id"], lambda m: heading in seen(m), after=mark)
    assert PASTED[lang].splitlines()[0].removeprefix("1. [0:01:00] ") in seen(shown)
    await telegram.wait_for(
        lambda: _say(lang, "questions.button_count", count=2) in str(card.buttons)
    )
    assert PASTED[lang].splitlines()[1].removeprefix("+ ") in _description(made.folder)
    changes = await rows(app.settings, AuditEvent, action="questions_changed")
    assert [e.details["how"] for e in changes] == ["dropped", "replaced"]

    # Regenerate with a model that answers in the wrong language twice: a clear message, and
    # the list is kept.
    other = "ru" if lang == "en" else "en"
    model.replies.extend([good_answer(other), good_answer(other)])
    await _press(telegram, chat, user, shown, _say(lang, "questions.button_regenerate"))
    failed = _say(lang, "questions.failed_invalid")
    await telegram.wait_for(lambda: failed in seen(shown), timeout=30)
    assert model.problems == []
    assert len(model.asked) == 3
    assert "the language of the lecture" in model.asked[2]["messages"][1]["content"]
    assert _say(lang, "questions.button_count", count=2) in str(card.buttons)


@LANGS
async def test_the_first_press_has_the_model_write_them_repairing_a_bad_answer_once(
    app: RunningBot,
    telegram: FakeTelegram,
    lecture_video: Path,
    openai_api: FakeOpenAI,
    lang: str,
) -> None:
    model = _model(openai_api, lang)
    user = telegram.user(2503 if lang == "en" else 2504, "Ann", language_code=lang)
    chat = telegram.private_chat(user)
    made = await reviewable(app.settings, telegram, chat, user, lecture_video, language=lang)
    await _long_lecture(app.settings, made.recording_id, made.folder)
    transcript = made.folder / "transcript.json"
    transcript.write_text(json.dumps({**json.loads(transcript.read_text()), "language": lang}))
    card = await _card(telegram, chat["id"], lang)
    card = await _rechapter(telegram, chat, user, card, lang, "more")
    # No template asks for the channel quiz: nothing is written until someone asks.
    assert model.asked == []

    model.replies.extend(["Here you go: questions!", good_answer(lang, 3, options=3)])
    mark = telegram.mark()
    await _press(telegram, chat, user, card, _say(lang, "questions.button"))
    making = await telegram.wait_for_message(
        chat["id"], lambda m: _say(lang, "questions.making") in (m.texts[0] or ""), after=mark
    )
    heading = _say(lang, "questions.heading", name="").strip()
    await telegram.wait_for(lambda: heading in seen(making) and bool(making.buttons), timeout=30)
    assert model.problems == []
    assert len(model.asked) == 2
    assert "not valid JSON" in model.asked[1]["messages"][1]["content"]
    assert QUESTIONS[lang][2][0] in seen(making)
    assert _say(lang, "questions.channel_chosen") not in seen(making)
    await telegram.wait_for(
        lambda: _say(lang, "questions.button_count", count=3) in str(card.buttons)
    )
    changes = await rows(app.settings, AuditEvent, action="questions_changed")
    assert [e.details["how"] for e in changes] == ["generated"]
