"""Subtitles translated through the fake OpenAI-compatible server, with the real SDK.

The server checks every request (its JSON shape, the two languages, the batch sizes) and
answers like a model would: well, or badly (not JSON, the wrong number of cues, the wrong
language), once or twice. In both directions, Russian → English and English → Russian.
"""

from __future__ import annotations

import json

import pytest

from integrations.llm.translate import BAD_ANSWER, TranslationError, translate_texts
from tests.fakes.openai import CHAT, FakeOpenAI, Fault
from tests.fakes.translator import SubtitleModel

RU = [
    "Добрый день, сегодня мы говорим",
    "о дискретизации сигналов.",
    "Частота должна быть больше",
    "удвоенной наибольшей частоты сигнала.",
]
EN = [
    "Good afternoon, today we talk",
    "about sampling signals.",
    "The rate must be higher",
    "than twice the highest frequency of the signal.",
]
PAIRS = {
    "ru": ("Russian", "English", RU, EN, "en"),
    "en": ("English", "Russian", EN, RU, "ru"),
}
DIRECTIONS = pytest.mark.parametrize("source", ["ru", "en"])


def _model(source: str, **limits: int) -> tuple[SubtitleModel, list[str], list[str], str]:
    named_from, named_to, texts, translated, target = PAIRS[source]
    model = SubtitleModel(named_from, named_to, dict(zip(texts, translated, strict=True)), **limits)
    return model, texts, translated, target


async def _translate(api: FakeOpenAI, texts: list[str], source: str, target: str, **kw: object):
    return await translate_texts(
        texts,
        source,
        target,
        base_url=api.base_url,
        api_key=api.api_key,
        model="test-model",
        backoff_base=0.01,
        **kw,  # type: ignore[arg-type]
    )


@DIRECTIONS
async def test_a_lecture_goes_in_batches_with_context_and_comes_back_in_order(
    fake_openai: FakeOpenAI, source: str
) -> None:
    model, texts, translated, target = _model(source, max_batch=40)
    fake_openai.chat_check, fake_openai.chat = model.check, model.answer
    lecture = texts * 25  # 100 cues
    progress: list[tuple[int, int]] = []

    async def on_batch(done: int, total: int) -> None:
        progress.append((done, total))

    result = await _translate(fake_openai, lecture, source, target, on_batch=on_batch)
    assert result == translated * 25
    assert fake_openai.refused == []
    assert sorted(len(b) for b in model.batches) == [20, 40, 40]
    assert sorted(b[0] for b in model.batches) == [1, 41, 81]
    assert fake_openai.max_in_flight[CHAT] <= 3
    assert progress[-1] == (3, 3) and len(progress) == 3
    body = fake_openai.calls(CHAT)[0].body
    assert body["response_format"] == {"type": "json_object"}
    assert body["model"] == "test-model"


@DIRECTIONS
async def test_a_smaller_batch_size_is_kept(fake_openai: FakeOpenAI, source: str) -> None:
    model, texts, translated, target = _model(source, max_batch=3)
    fake_openai.chat_check, fake_openai.chat = model.check, model.answer
    result = await _translate(fake_openai, texts * 2, source, target, batch_size=3)
    assert result == translated * 2
    assert fake_openai.refused == []
    assert [len(b) for b in model.batches] == [3, 3, 2]


@DIRECTIONS
async def test_invalid_json_gets_one_repair_request(fake_openai: FakeOpenAI, source: str) -> None:
    model, texts, translated, target = _model(source)
    fake_openai.chat_check, fake_openai.chat = model.check, model.answer
    fake_openai.reply("Here is the translation: " + ", ".join(translated))
    assert await _translate(fake_openai, texts, source, target) == translated
    calls = fake_openai.calls(CHAT)
    assert len(calls) == 2 and model.repairs == 1
    repair = calls[1].body["messages"][-1]["content"]
    assert "not valid JSON" in repair and "exactly 4 cues, ids 1 to 4" in repair
    assert fake_openai.refused == []


@DIRECTIONS
async def test_the_wrong_number_of_cues_twice_is_a_clear_failure(
    fake_openai: FakeOpenAI, source: str
) -> None:
    model, texts, translated, target = _model(source)
    fake_openai.chat_check = model.check
    merged = json.dumps({"cues": [{"id": 1, "text": " ".join(translated)}]}, ensure_ascii=False)
    fake_openai.reply(merged, merged)
    with pytest.raises(TranslationError) as failed:
        await _translate(fake_openai, texts, source, target)
    assert failed.value.code == BAD_ANSWER
    assert "expected 4 cues" in failed.value.detail and "cues 1-4" in failed.value.detail
    assert len(fake_openai.calls(CHAT)) == 2
    assert fake_openai.refused == []


@DIRECTIONS
async def test_text_in_the_wrong_language_twice_is_a_clear_failure(
    fake_openai: FakeOpenAI, source: str
) -> None:
    model, texts, _, target = _model(source)
    fake_openai.chat_check = model.check
    echoed = json.dumps(
        {"cues": [{"id": i + 1, "text": t} for i, t in enumerate(texts)]}, ensure_ascii=False
    )
    fake_openai.reply(echoed, echoed)
    with pytest.raises(TranslationError) as failed:
        await _translate(fake_openai, texts, source, target)
    assert failed.value.code == BAD_ANSWER
    assert f"not in {PAIRS[source][1]}" in failed.value.detail
    assert "not in" in fake_openai.calls(CHAT)[1].body["messages"][-1]["content"]


@DIRECTIONS
async def test_the_wrong_language_once_is_repaired(fake_openai: FakeOpenAI, source: str) -> None:
    model, texts, translated, target = _model(source)
    fake_openai.chat_check, fake_openai.chat = model.check, model.answer
    echoed = json.dumps(
        {"cues": [{"id": i + 1, "text": t} for i, t in enumerate(texts)]}, ensure_ascii=False
    )
    fake_openai.reply(echoed)
    assert await _translate(fake_openai, texts, source, target) == translated
    assert model.repairs == 1


async def test_a_server_error_is_retried_and_a_refused_json_mode_dropped(
    fake_openai: FakeOpenAI,
) -> None:
    model, texts, translated, target = _model("ru")
    fake_openai.chat_check, fake_openai.chat = model.check, model.answer
    fake_openai.reply(
        Fault(500),
        Fault(400, message="response_format is not supported by this model"),
    )
    assert await _translate(fake_openai, texts, "ru", target) == translated
    calls = fake_openai.calls(CHAT)
    assert len(calls) == 3
    assert "response_format" not in calls[-1].body


async def test_a_refused_key_is_an_auth_failure(fake_openai: FakeOpenAI) -> None:
    model, texts, _, target = _model("ru")
    fake_openai.chat_check = model.check
    with pytest.raises(TranslationError) as failed:
        await translate_texts(
            texts, "ru", target, base_url=fake_openai.base_url, api_key="wrong", model="m"
        )
    assert failed.value.code == "auth"


async def test_any_pair_the_model_knows_russian_into_german(fake_openai: FakeOpenAI) -> None:
    german = [
        "Guten Tag, heute sprechen wir",
        "über die Abtastung von Signalen.",
        "Die Rate muss höher sein",
        "als das Doppelte der höchsten Frequenz.",
    ]
    model = SubtitleModel("Russian", "German", dict(zip(RU, german, strict=True)))
    fake_openai.chat_check, fake_openai.chat = model.check, model.answer
    echoed = json.dumps(
        {"cues": [{"id": i + 1, "text": t} for i, t in enumerate(RU)]}, ensure_ascii=False
    )
    fake_openai.reply(echoed)
    assert await _translate(fake_openai, RU, "ru", "de") == german
    assert model.repairs == 1 and fake_openai.refused == []
    assert "not in German" in fake_openai.calls(CHAT)[1].body["messages"][-1]["content"]
