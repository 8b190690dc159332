"""Fixtures for the speech-to-text and topic tests: the fake OpenAI API and synthetic audio."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import synth
from tests.fakes.openai import FakeOpenAI
from tests.synth import Silence, Speech

SENTENCES = (
    "Good morning everyone, and welcome to the course on signals.",
    "Today we talk about sampling and how we measure a signal over time.",
    "A signal is a function of time that carries information.",
    "We take measurements at regular intervals and store them as numbers.",
    "The sampling rate must be more than twice the highest frequency.",
    "Otherwise we see aliasing, and the result looks like a slower wave.",
    "Next week we will study filters and the frequency domain.",
    "Thank you for listening, and see you on Monday.",
)
"""The lecture's script: what a perfect transcript says."""

PAUSES = (1.5, 1.0, 2.5, 1.2, 3.0, 1.0, 2.0)


@dataclass(frozen=True)
class SpokenLecture:
    """A lecture cut into two 16 kHz WAV chunks at its longest pause."""

    chunks: tuple[Path, Path]
    cut: float
    """Where the second chunk starts, in seconds from the lecture's start."""
    duration: float
    phrases: tuple[tuple[float, float], ...]
    """Audible span of each sentence, in seconds from the lecture's start."""
    text: str


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", *args], check=True)


@pytest.fixture(scope="session")
def stt_media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stt-media")


@pytest.fixture(scope="session")
def spoken_lecture(stt_media: Path) -> SpokenLecture:
    parts: list[Silence | Speech] = [Silence(1.0)]
    for i, sentence in enumerate(SENTENCES):
        parts.append(Speech(sentence))
        parts.append(Silence(PAUSES[i] if i < len(PAUSES) else 1.5))
    lecture = synth.make_lecture(stt_media / "spoken.m4a", parts, video=False)
    # Cut in the middle of the longest pause, as the chunker would.
    longest = max(range(len(PAUSES)), key=lambda i: PAUSES[i])
    cut = round((lecture.words[longest][1] + lecture.words[longest + 1][0]) / 2, 2)
    first, second = stt_media / "spoken-1.wav", stt_media / "spoken-2.wav"
    common = ["-ac", "1", "-ar", "16000", "-c:a", "pcm_s16le"]
    _ffmpeg("-i", str(lecture.path), "-t", f"{cut}", *common, str(first))
    _ffmpeg("-ss", f"{cut}", "-i", str(lecture.path), *common, str(second))
    return SpokenLecture(
        chunks=(first, second),
        cut=cut,
        duration=lecture.duration,
        phrases=lecture.words,
        text=" ".join(SENTENCES),
    )


@pytest.fixture(scope="session")
def silent_chunk(stt_media: Path) -> Callable[[float], Path]:
    """A factory of 16 kHz mono WAV files of silence; the fake API tells them by length."""

    def make(seconds: float) -> Path:
        path = stt_media / f"silence-{seconds:g}.wav"
        if not path.exists():
            _ffmpeg(
                "-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", f"{seconds}",
                "-c:a", "pcm_s16le", str(path),
            )  # fmt: skip
        return path

    return make


@pytest.fixture
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as server:
        yield server
