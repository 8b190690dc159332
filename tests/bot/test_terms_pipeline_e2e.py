"""A lecture sent to the chat is heard and described with the chat's key terms and its
template's: the speech API gets them in the ``prompt`` field of every request, the language
model in its system prompts, and the recording keeps the list it was made with. The fake
OpenAI-compatible server checks what arrives. In English and in Russian."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
import yaml
from pydantic import SecretStr

from integrations.stt.vocabulary import fit
from leap.settings import Settings
from locales import gettext
from tests.bot.chat_fixtures import seen
from tests.bot.test_foundation_e2e import wait_for_rest
from tests.conftest import RunningBot
from tests.fakes.openai import FakeOpenAI, Phrase, Upload
from tests.fakes.telegram import FakeTelegram
from tests.synth import Lecture

LANGS = pytest.mark.parametrize("lang", ["en", "ru"])
WORKSPACE_TERMS = {
    "en": ["Dijkstra", "Kolmogorov", "Levenshtein"],
    "ru": ["Дейкстра", "Колмогоров", "Левенштейн"],
}
TEMPLATE_TERMS = {"en": ["Bellman-Ford"], "ru": ["Беллман-Форд"]}
# More than the speech prompt holds: the rest still reach the language model.
MANY = {
    "en": [f"Bellman-Ford lemma number {i:02d}" for i in range(20)],
    "ru": [f"Лемма Беллмана-Форда номер {i:02d}" for i in range(20)],
}
HEARD = {
    "en": ("Today Dijkstra and Kolmogorov.", "Then the Levenshtein distance."),
    "ru": ("Сегодня Дейкстра и Колмогоров.", "Потом расстояние Левенштейна."),
}


@pytest.fixture
async def openai_api() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as api:
        yield api


@pytest.fixture
def settings(settings: Settings, openai_api: FakeOpenAI) -> Settings:
    key = SecretStr(str(openai_api.api_key))
    return settings.model_copy(
        update={
            "transcribe_engine": "openai",
            "transcribe_base_url": openai_api.base_url,
            "transcribe_api_key": key,
            "transcribe_model": "whisper-1",
            "llm_base_url": openai_api.base_url,
            "llm_api_key": key,
            "llm_model": "test-model",
        }
    )


def _heard(lang: str) -> Any:
    def transcriber(upload: Upload) -> list[Phrase]:
        first, second = HEARD[lang]
        end = max(upload.duration - 0.2, 2.0)
        return [Phrase(0.2, end / 2, first), Phrase(end / 2, end, second)]

    return transcriber


def _topics(lang: str) -> str:
    title = WORKSPACE_TERMS[lang][0]
    summary = {
        "en": f"The lecture presents {title}'s algorithm. It compares it with others.",
        "ru": f"Лекция об алгоритме, который придумал {title}. Его сравнивают с другими.",
    }[lang]
    return json.dumps(
        {"summary": summary, "topics": [{"start": "00:00:00", "title": title}], "breaks": []}
    )


@LANGS
async def test_the_speech_api_and_the_language_model_get_the_chat_and_template_terms(
    app: RunningBot,
    telegram: FakeTelegram,
    openai_api: FakeOpenAI,
    chat_lecture: Lecture,
    lang: str,
) -> None:
    openai_api.language = "english" if lang == "en" else "russian"
    openai_api.transcriber = _heard(lang)
    openai_api.chat = lambda body: _topics(lang)
    user = telegram.user(3201 if lang == "en" else 3202, "Ann", language_code=lang)
    chat = telegram.private_chat(user)

    mark = telegram.mark()
    await telegram.send_text(chat, user, "/terms " + ", ".join(WORKSPACE_TERMS[lang]))
    await telegram.wait_for_message(chat["id"], after=mark)
    template = {
        "name": "Algorithms",
        "match": {"keywords_any": ["graphs"]},
        "terms": TEMPLATE_TERMS[lang] + [WORKSPACE_TERMS[lang][0]] + MANY[lang],
    }
    mark = telegram.mark()
    await telegram.send_document(
        chat, user, yaml.safe_dump(template).encode(), file_name="a.yaml", mime_type="text/yaml"
    )
    await telegram.wait_for_message(chat["id"], lambda m: bool(m.buttons), after=mark)

    await telegram.send_document(
        chat,
        user,
        chat_lecture.path,
        file_name="lecture.mp4",
        mime_type="video/mp4",
        caption="graphs, week 3",
    )
    recording = await wait_for_rest(app.settings.database_url, timeout=120)

    # The chat's terms first, then the template's; a term in both counts once. The speech
    # prompt holds the first of them, whole; the stage keeps which did not fit, and says so.
    expected = WORKSPACE_TERMS[lang] + TEMPLATE_TERMS[lang] + MANY[lang]
    prompt = fit(expected)
    assert prompt.kept[:4] == tuple(expected[:4]) and prompt.dropped
    assert recording.media["vocabulary"] == {"terms": expected, "dropped": list(prompt.dropped)}
    uploads = openai_api.calls("transcriptions")
    assert uploads
    for upload in uploads:
        lead = "Glossary:" if lang == "en" else "Глоссарий:"
        assert upload.params["prompt"] == f"{lead} " + ", ".join(prompt.kept) + "."
    dropped = gettext(lang, "terms.progress_dropped", count=len(prompt.dropped))
    await telegram.wait_for_message(chat["id"], lambda m: dropped in seen(m), after=0)

    chats = openai_api.calls("chat")
    assert chats
    for call in chats:
        system = call.body["messages"][0]
        assert system["role"] == "system"
        listed = system["content"].rsplit("\n", 1)[-1]
        assert listed == "; ".join(expected), system["content"]
        assert "write it exactly as here" in system["content"]
    # What the user reads on the card is spelled as the vocabulary spells it.
    heading = re.sub(r"<[^>]*>", "", gettext(lang, "review.heading", title="")).strip()
    card = await telegram.wait_for_message(
        chat["id"], lambda m: heading in seen(m) and bool(m.buttons), after=0, timeout=30
    )
    assert WORKSPACE_TERMS[lang][0] in seen(card)
