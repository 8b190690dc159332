"""Key terms reach the local engine (faster-whisper, the bundled model, for real) as its prompt,
and rare names synthesised by espeak-ng come out spelled as the vocabulary spells them."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from integrations.stt import make_engine
from integrations.stt.local import bundled_model_path, load_model
from integrations.stt.vocabulary import hotwords

pytestmark = pytest.mark.skipif(
    bundled_model_path() is None, reason="the bundled Whisper model is not installed"
)

TERMS = ("Dijkstra", "Kolmogorov", "Levenshtein")
LECTURE = (
    "Today we study the shortest path algorithm of Dijkstra. "
    "Kolmogorov complexity measures how short a description can be. "
    "The Levenshtein distance counts the edits between two strings."
)


@pytest.fixture(scope="module")
def rare_terms_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About twelve seconds of espeak-ng saying three rare names, with a second of room after."""
    folder = tmp_path_factory.mktemp("terms")
    speech = folder / "speech.wav"
    subprocess.run(
        ["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(speech), LECTURE], check=True
    )
    clip = folder / "lecture.m4a"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(speech), "-af", "apad=pad_dur=1",
         "-ar", "16000", "-ac", "1", "-c:a", "aac", str(clip)],
        check=True,
    )  # fmt: skip
    return clip


def recognised(text: str) -> int:
    """How many times the terms are written exactly as the vocabulary spells them."""
    return sum(len(re.findall(rf"\b{term}\b", text)) for term in TERMS)


def test_the_terms_become_hotwords_with_a_lead_word() -> None:
    model = load_model(None)
    assert hotwords(model, TERMS) == {"hotwords": "Glossary: Dijkstra, Kolmogorov, Levenshtein."}
    assert hotwords(model, ()) == {}


async def test_the_vocabulary_makes_rare_names_come_out_right(rare_terms_clip: Path) -> None:
    plain = await make_engine("local").transcribe([(rare_terms_clip, 0.0)], language="en")
    prompted = await make_engine("local", vocabulary=TERMS).transcribe(
        [(rare_terms_clip, 0.0)], language="en"
    )
    without, with_terms = recognised(plain.text()), recognised(prompted.text())
    assert with_terms >= without, (plain.text(), prompted.text())
    assert with_terms == len(TERMS), prompted.text()
    # The prompt is not written out as text of its own.
    assert "Glossary" not in prompted.text()
    assert all(s.start < s.end for s in prompted.segments)
