"""Key terms in what reaches the outside services: the speech API's ``prompt`` field (short,
whole terms, none without terms) and the language model's system prompts (map, reduce and the
summary repair), checked on the fake OpenAI-compatible server. English and Russian terms."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from integrations.llm import extract_topics
from integrations.stt import make_engine
from integrations.stt.vocabulary import PROMPT_TOKENS, estimate_tokens, fit
from tests.fakes.openai import FakeOpenAI, Phrase
from tests.integrations.test_llm_topics import lecture

TERMS = {
    "en": ["Dijkstra", "Kolmogorov", "Levenshtein"],
    "ru": ["Дейкстра", "Колмогоров", "Левенштейн"],
}
LANGS = pytest.mark.parametrize("lang", ["en", "ru"])


def _answer(title: str, summary: str) -> str:
    return json.dumps(
        {"summary": summary, "topics": [{"start": "00:00:00", "title": title}], "breaks": []}
    )


@LANGS
async def test_every_speech_request_carries_the_terms_as_its_prompt(
    fake_openai: FakeOpenAI, silent_chunk: Callable[[float], Path], lang: str
) -> None:
    fake_openai.transcriber = lambda upload: [Phrase(0.0, 1.0, "Hello.")]
    chunks = [(silent_chunk(3.0), 0.0), (silent_chunk(4.0), 3.0)]
    engine = make_engine(
        "openai",
        base_url=fake_openai.base_url,
        api_key=fake_openai.api_key,
        model="whisper-1",
        vocabulary=TERMS[lang],
    )
    await engine.transcribe(chunks, language=lang)
    prompts = [c.params.get("prompt") for c in fake_openai.calls("transcriptions")]
    lead = "Glossary:" if lang == "en" else "Глоссарий:"
    assert prompts == [f"{lead} " + ", ".join(TERMS[lang]) + "."] * 2


async def test_without_terms_no_prompt_is_sent(
    fake_openai: FakeOpenAI, silent_chunk: Callable[[float], Path]
) -> None:
    fake_openai.transcriber = lambda upload: [Phrase(0.0, 1.0, "Hello.")]
    engine = make_engine(
        "openai", base_url=fake_openai.base_url, api_key=fake_openai.api_key, model="whisper-1"
    )
    await engine.transcribe([(silent_chunk(3.0), 0.0)], language="en")
    assert "prompt" not in fake_openai.calls("transcriptions")[0].params


@LANGS
async def test_a_long_list_is_cut_to_whole_terms_within_the_budget(
    fake_openai: FakeOpenAI, silent_chunk: Callable[[float], Path], lang: str
) -> None:
    many = [f"{TERMS[lang][1]} {i:03d}" for i in range(100)]
    prompt = fit(many)
    assert prompt.kept == tuple(many[: len(prompt.kept)])
    assert prompt.dropped == tuple(many[len(prompt.kept) :])
    assert prompt.dropped and estimate_tokens(" " + prompt.text) <= PROMPT_TOKENS

    fake_openai.transcriber = lambda upload: [Phrase(0.0, 1.0, "Hello.")]
    engine = make_engine(
        "openai",
        base_url=fake_openai.base_url,
        api_key=fake_openai.api_key,
        model="whisper-1",
        vocabulary=many,
    )
    # The fake refuses a prompt longer than the service reads: this one is taken.
    await engine.transcribe([(silent_chunk(3.0), 0.0)], language=lang)
    sent = fake_openai.calls("transcriptions")[0].params["prompt"]
    assert sent == prompt.text
    assert sent.endswith(f"{prompt.kept[-1]}.")


@LANGS
async def test_the_language_model_is_told_the_terms_in_every_system_prompt(
    fake_openai: FakeOpenAI, lang: str
) -> None:
    term = TERMS[lang][0]
    # Two windows, then the reduce, then a summary too long to use, so a repair is asked.
    fake_openai.reply(
        _answer(f"{term} one", "a"),
        _answer(f"{term} two", "b"),
        _answer(term, "x" * 1200),
        json.dumps({"summary": "Dijkstra." if lang == "en" else "Дейкстра."}),
    )
    await extract_topics(
        lecture(20.0),
        1200.0,
        base_url=fake_openai.base_url,
        api_key=fake_openai.api_key,
        model="test-model",
        language=lang,
        max_chars_per_window=1500,
        terms=TERMS[lang],
    )
    calls = fake_openai.calls("chat")
    assert len(calls) >= 4
    for call in calls:
        system = call.body["messages"][0]["content"]
        assert system.endswith("\n" + "; ".join(TERMS[lang])), system
        assert "Key terms of this lecture" in system


async def test_without_terms_the_system_prompts_say_nothing_of_them(
    fake_openai: FakeOpenAI,
) -> None:
    fake_openai.reply(_answer("Opening", "A lecture on graphs. It has parts."))
    await extract_topics(
        lecture(2.0),
        120.0,
        base_url=fake_openai.base_url,
        api_key=fake_openai.api_key,
        model="test-model",
        language="en",
    )
    assert "Key terms" not in fake_openai.calls("chat")[0].body["messages"][0]["content"]
