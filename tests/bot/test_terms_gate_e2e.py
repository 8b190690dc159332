"""The key terms said back where nobody speaks: a speech API that writes the chat's vocabulary
over the lecture's long pause gets the review card a warning, in the chat's language, while the
same terms inside the lecturer's sentences raise nothing. English and Russian."""

from __future__ import annotations

import re
import subprocess
from collections.abc import AsyncIterator

import numpy as np
import pytest
from pydantic import SecretStr

from leap.settings import Settings
from locales import gettext
from tests import synth
from tests.bot.chat_fixtures import seen
from tests.bot.test_foundation_e2e import wait_for_rest
from tests.conftest import RunningBot
from tests.fakes.openai import FakeOpenAI, Phrase, Upload
from tests.fakes.telegram import FakeTelegram
from tests.synth import Lecture, Silence, Speech

LANGS = pytest.mark.parametrize("lang", ["en", "ru"])
TERMS = {
    "en": ["Dijkstra", "Kolmogorov", "Levenshtein"],
    "ru": ["Дейкстра", "Колмогоров", "Левенштейн"],
}
SAID = {
    "en": ("Today we study the algorithm of Dijkstra.", "Next time Kolmogorov complexity."),
    "ru": ("Сегодня мы изучаем алгоритм Дейкстры.", "В следующий раз сложность Колмогорова."),
}
RATE = 16_000
_FRAME = 320  # 20 ms


@pytest.fixture(scope="module")
def paused_lecture(tmp_path_factory: pytest.TempPathFactory) -> Lecture:
    """Two sentences with seven seconds of empty room between them."""
    folder = tmp_path_factory.mktemp("terms-gate")
    return synth.make_lecture(
        folder / "paused.mp4",
        (
            Silence(1.0),
            Speech("Good morning everyone. Today we talk about graphs."),
            Silence(7.0),
            Speech("That is all for today. Thank you."),
            Silence(1.0),
        ),
    )


@pytest.fixture
async def openai_api() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as api:
        yield api


@pytest.fixture
def settings(settings: Settings, openai_api: FakeOpenAI) -> Settings:
    return settings.model_copy(
        update={
            "transcribe_engine": "openai",
            "transcribe_base_url": openai_api.base_url,
            "transcribe_api_key": SecretStr(str(openai_api.api_key)),
        }
    )


def _longest_quiet(upload: Upload) -> tuple[float, float]:
    """Where the uploaded audio is quiet longest, found in its samples, in seconds."""
    pcm = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", "pipe:0", "-f", "s16le", "-ac", "1", "-ar", str(RATE), "-"],
        input=upload.data,
        capture_output=True,
        check=True,
    ).stdout
    samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768
    frames = samples[: samples.size // _FRAME * _FRAME].reshape(-1, _FRAME)
    quiet = np.sqrt((frames**2).mean(axis=1)) < 0.01
    best, run, start = (0, 0), 0, 0
    for i, q in enumerate(quiet):
        run = run + 1 if q else 0
        if run == 1:
            start = i
        if run > best[1] - best[0]:
            best = (start, i + 1)
    return best[0] * _FRAME / RATE, best[1] * _FRAME / RATE


def _echoing(lang: str) -> object:
    def transcriber(upload: Upload) -> list[Phrase]:
        a, b = _longest_quiet(upload)
        middle = (a + b) / 2
        first, second = SAID[lang]
        return [
            Phrase(0.1, max(a, 0.5), first),
            Phrase(middle - 1.0, middle + 1.0, ", ".join(TERMS[lang]) + "."),
            Phrase(b, max(upload.duration - 0.1, b + 0.5), second),
        ]

    return transcriber


@LANGS
async def test_the_terms_written_over_the_pause_are_a_warning_on_the_card(
    app: RunningBot,
    telegram: FakeTelegram,
    openai_api: FakeOpenAI,
    paused_lecture: Lecture,
    lang: str,
) -> None:
    openai_api.language = "english" if lang == "en" else "russian"
    openai_api.transcriber = _echoing(lang)  # type: ignore[assignment]
    user = telegram.user(3301 if lang == "en" else 3302, "Ann", language_code=lang)
    chat = telegram.private_chat(user)
    mark = telegram.mark()
    await telegram.send_text(chat, user, "/terms " + ", ".join(TERMS[lang]))
    await telegram.wait_for_message(chat["id"], after=mark)

    await telegram.send_document(
        chat, user, paused_lecture.path, file_name="graphs.mp4", mime_type="video/mp4"
    )
    recording = await wait_for_rest(app.settings.database_url, timeout=120)
    codes = [f["code"] for f in recording.media["quality"]["flags"]]
    # One warning: the echo over the pause; the sentences that use the terms raise none.
    assert codes.count("vocabulary_echo") == 1, recording.media["quality"]
    warning = re.sub(r"<[^>]*>", "", gettext(lang, "review.flag_vocabulary_echo"))
    card = await telegram.wait_for_message(
        chat["id"], lambda m: warning in seen(m) and bool(m.buttons), after=0, timeout=30
    )
    assert re.sub(r"<[^>]*>", "", gettext(lang, "review.warnings")) in seen(card)
