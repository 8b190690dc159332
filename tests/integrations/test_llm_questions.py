"""Self-check questions from a language model through the real ``openai`` SDK and the fake
OpenAI-compatible server, which checks every request: JSON mode and shape, the lecture's
language, the batch size. A bad answer (not JSON, a wrong number of options, the wrong
language) gets one repair request, then a clear error. In English and in Russian."""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import pytest

from integrations.llm.questions import INVALID, QuestionsError, make_questions
from pipeline.topics import Topic, Topics
from pipeline.transcript import Segment, Transcript
from tests.fakes.openai import FakeOpenAI, Fault
from tests.fakes.quiz_llm import QUESTIONS, QuizModel, good_answer

LANGS = pytest.mark.parametrize("lang", ["en", "ru"])
SAID = {"en": "At minute {m} we discuss point {p}.", "ru": "На минуте {m} обсуждаем пункт {p}."}
LINE = re.compile(r"^\[(\d\d):(\d\d):(\d\d)\] ", re.MULTILINE)


@pytest.fixture
async def api() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as server:
        yield server


def lecture(lang: str, minutes: float, every: float = 20.0) -> Transcript:
    segments, t = [], 0.0
    while t < minutes * 60:
        text = SAID[lang].format(m=int(t // 60), p=int(t // every))
        segments.append(Segment(start=t, end=t + every - 2, text=text))
        t += every
    return Transcript(language=lang, segments=segments)


TOPICS = Topics(topics=[Topic(start=0, title="Photosynthesis"), Topic(start=240, title="Castles")])


async def ask(api: FakeOpenAI, model: QuizModel, transcript: Transcript, **kw: Any) -> Any:
    api.chat = model
    return await make_questions(
        transcript,
        TOPICS,
        transcript.duration,
        base_url=api.base_url,
        api_key=api.api_key,
        model="test-model",
        language=transcript.language,
        backoff_base=0.01,
        **kw,
    )


@LANGS
async def test_good_questions_are_taken_at_once(api: FakeOpenAI, lang: str) -> None:
    model = QuizModel(lang, deque([good_answer(lang, 4)]))
    found = await ask(api, model, lecture(lang, 12))
    assert model.problems == []
    assert len(model.asked) == 1
    assert [q.question for q in found] == [q[0] for q in QUESTIONS[lang]]
    assert found[2].answer == QUESTIONS[lang][2][1][1]
    assert [q.at for q in found] == [30.0, 250.0, 450.0, 650.0]
    assert all(q.explanation for q in found)


@LANGS
async def test_a_long_lecture_goes_in_one_batch_seen_over_its_whole_length(
    api: FakeOpenAI, lang: str
) -> None:
    model = QuizModel(lang, deque([good_answer(lang, 7)]), max_chars=9000)
    found = await ask(api, model, lecture(lang, 240), max_chars=9000)
    assert model.problems == []
    # More than five are cut to five.
    assert len(found) == 5
    user = model.asked[0]["messages"][1]["content"]
    times = [int(h) * 3600 + int(m) * 60 + int(s) for h, m, s in LINE.findall(user)]
    assert max(times) > 200 * 60, "the end of the lecture was not sent"
    assert "[00:04:00] Castles" in user


@LANGS
async def test_invalid_json_gets_one_repair_request(api: FakeOpenAI, lang: str) -> None:
    model = QuizModel(lang, deque(["Sure! Here are questions: 1) ...", good_answer(lang, 3)]))
    found = await ask(api, model, lecture(lang, 12))
    assert model.problems == []
    assert len(found) == 3
    repair = model.asked[1]["messages"][1]["content"]
    assert "not valid JSON" in repair and "Sure! Here are questions" in repair


@LANGS
async def test_a_wrong_number_of_options_gets_one_repair_request(
    api: FakeOpenAI, lang: str
) -> None:
    model = QuizModel(lang, deque([good_answer(lang, 4, options=11), good_answer(lang, 4)]))
    found = await ask(api, model, lecture(lang, 12))
    assert model.problems == []
    assert all(len(q.options) == 4 for q in found)
    assert '"options" must hold 2 to 10 answers' in model.asked[1]["messages"][1]["content"]


@LANGS
async def test_the_wrong_language_twice_is_a_clear_error(api: FakeOpenAI, lang: str) -> None:
    other = "ru" if lang == "en" else "en"
    model = QuizModel(lang, deque([good_answer(other), good_answer(other)]))
    with pytest.raises(QuestionsError) as raised:
        await ask(api, model, lecture(lang, 12))
    assert raised.value.code == INVALID
    assert "not in" in raised.value.detail
    assert model.problems == []
    assert len(model.asked) == 2
    assert "the language of the lecture" in model.asked[1]["messages"][1]["content"]


async def test_too_few_questions_and_a_wrong_right_answer_are_told_to_the_model(
    api: FakeOpenAI,
) -> None:
    broken = json.loads(good_answer("en", 3))
    broken["questions"][1]["correct"] = 9
    model = QuizModel("en", deque([good_answer("en", 2), json.dumps(broken)]))
    with pytest.raises(QuestionsError):
        await ask(api, model, lecture("en", 12))
    assert "there are 2 questions" in model.asked[1]["messages"][1]["content"]


async def test_a_service_that_keeps_failing_keeps_its_code(api: FakeOpenAI) -> None:
    api.fail("chat", *[Fault(503)] * 3)
    model = QuizModel("en", deque([good_answer("en")]))
    with pytest.raises(QuestionsError) as raised:
        await ask(api, model, lecture("en", 12), max_attempts=3)
    assert raised.value.code == "unavailable"
