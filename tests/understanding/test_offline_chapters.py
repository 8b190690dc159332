"""Offline chapters through `leap process`: real topics only, each starting on its first words,
titled by a key phrase of two to six words the section says.

A lecture in three sections (the last after a 30-second break) and the real 42-second clip
with a 22-second pause go through the whole pipeline without a chat model.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from pipeline.timeline import Timeline
from tests import synth
from tests.synth import Lecture, Silence, Speech

REAL = Path(__file__).parents[1] / "data" / "real"
SECTIONS = {
    "photosynthesis": (
        "Today we study photosynthesis in green plants.",
        "Photosynthesis needs sunlight, water and carbon dioxide.",
        "Chlorophyll in the leaves absorbs the sunlight.",
        "The leaves turn carbon dioxide into glucose.",
        "Green plants release oxygen during photosynthesis.",
        "Without chlorophyll the leaves cannot use sunlight.",
        "Glucose feeds the roots and the stems of green plants.",
        "Photosynthesis happens in the chloroplasts of the leaves.",
    ),
    "castles": (
        "Our next subject is medieval castles.",
        "Medieval castles had thick stone walls and a deep moat.",
        "Knights defended the stone walls during a siege.",
        "The drawbridge was raised when an army came near the castle.",
        "A siege of a medieval castle could last for months.",
        "Feudal lords built castles on hills above the villages.",
        "Archers stood on the battlements of the stone walls.",
        "The moat and the drawbridge kept the castle safe.",
    ),
    "networks": (
        "The last part is about neural networks.",
        "Neural networks are made of layers of artificial neurons.",
        "Gradient descent adjusts the weights of neural networks.",
        "The loss function measures the error of the network.",
        "Regularization keeps neural networks from overfitting.",
        "Each layer of neurons passes its output to the next layer.",
        "Training data teaches the network through gradient descent.",
        "Deep neural networks have many hidden layers of neurons.",
    ),
}
SECTION_SECONDS = 125.0
BREAK_SECONDS = 30.0


@dataclass
class Processed:
    lecture: Lecture
    out: Path
    firsts: list[float]
    """Where each section's first word is heard on the source timeline."""


def _parts() -> tuple[list[Silence | Speech], list[int]]:
    """The lecture's parts, and the index (among spoken phrases) of each section's first."""
    parts: list[Silence | Speech] = [Silence(2.0)]
    firsts: list[int] = []
    spoken = 0
    for i, sentences in enumerate(SECTIONS.values()):
        if i == 2:
            parts.append(Silence(BREAK_SECONDS))
        elif i:
            parts.append(Silence(1.2))
        firsts.append(spoken)
        seconds = 0.0
        k = 0
        while seconds < SECTION_SECONDS:
            # The opening first, then the rest in turn; about 3.5 s each with the pause.
            sentence = sentences[0] if k == 0 else sentences[1 + (k - 1) % (len(sentences) - 1)]
            if k:
                parts.append(Silence(0.7))
            parts.append(Speech(sentence))
            spoken += 1
            seconds += 3.6
            k += 1
    parts.append(Silence(2.0))
    return parts, firsts


async def _process(source: Path, out: Path, cwd: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "TRANSCRIBE_"))}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "leap.cli", "process", str(source),
        "--out", str(out), "--lang", "en",
        cwd=cwd, env=env, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(proc.communicate(), 600)
    assert proc.returncode == 0, stderr.decode()


def _load(out: Path, name: str) -> dict[str, Any]:
    data = json.loads((out / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def processed(tmp_path_factory: pytest.TempPathFactory) -> Processed:
    folder = tmp_path_factory.mktemp("offline-chapters")
    parts, firsts = _parts()
    lecture = synth.make_lecture(folder / "three-parts.mp4", parts, size="160x120", fps=10)
    out = folder / "out"
    await _process(lecture.path, out, folder)
    return Processed(lecture, out, [lecture.words[i][0] for i in firsts])


async def test_the_chapter_after_a_break_starts_on_its_first_words(processed: Processed) -> None:
    timeline = Timeline.of(_load(processed.out, "report.json")["keep"])
    topics = _load(processed.out, "topics.json")["topics"]
    chapters = _load(processed.out, "metadata.json")["chapters"]
    assert len(topics) == len(chapters) == 3, topics
    first_word = timeline.to_output(processed.firsts[2])
    break_start = first_word - BREAK_SECONDS + 1.0
    start = topics[2]["start"]
    # Within two seconds of the first words and never inside the break before them (beyond
    # the lead-in the recogniser gives a word's start: a few tenths of a second).
    assert abs(start - first_word) <= 2.0, (start, first_word)
    assert not break_start < start < first_word - 0.6, (start, first_word)
    # The chapter link lands on the second the words begin in.
    assert int(first_word) - 1 <= chapters[2]["start"] <= first_word, (chapters, first_word)
    second = timeline.to_output(processed.firsts[1])
    assert abs(topics[1]["start"] - second) <= 2.0, (topics, second)


async def test_offline_titles_are_key_phrases_each_section_says(processed: Processed) -> None:
    chapters = _load(processed.out, "metadata.json")["chapters"]
    segments = _load(processed.out, "transcript.json")["segments"]
    ends = [c["start"] for c in chapters[1:]] + [float("inf")]
    titles = [chapter["title"] for chapter in chapters]
    assert len({t.casefold() for t in titles}) == len(titles), titles
    for chapter, end, sentences in zip(chapters, ends, SECTIONS.values(), strict=True):
        title = chapter["title"]
        words = title.casefold().split()
        heard = [s["text"] for s in segments if chapter["start"] <= s["start"] < end]
        assert "," not in title, title
        assert 2 <= len(words) <= 6, title
        # Words said one after another in this section, as the recogniser wrote them.
        assert any(
            f" {' '.join(words)} " in f" {' '.join(re.findall(r'[a-z]+', clause.casefold()))} "
            for text in heard
            for clause in re.split(r"[,.;:!?]", text)
        ), (title, heard[:3])
        script = set(re.findall(r"[a-z]+", " ".join(sentences).casefold()))
        assert set(words) & script, (title, sentences)
        assert title[:1].isupper() and not any(w[:1].isupper() for w in title.split()[1:]), title
    description = _load(processed.out, "metadata.json")["description"]
    assert "0:00 " in description


async def test_a_short_real_clip_gets_no_invented_chapters(tmp_path: Path) -> None:
    out = tmp_path / "out"
    await _process(REAL / "ae_example.mp4", out, tmp_path)
    topics = _load(out, "topics.json")["topics"]
    metadata = _load(out, "metadata.json")
    chapters = metadata["chapters"]
    # One real topic: one chapter, no copies numbered "(2)", "(3)" inside the pause.
    assert len(chapters) == len(topics) == 1, chapters
    assert not any(re.search(r"\(\d\)$", c["title"]) for c in chapters)
    # YouTube shows no list of one, so the description carries none.
    assert not re.search(r"^\d+:\d\d ", metadata["description"], re.MULTILINE)
    assert "," not in chapters[0]["title"], chapters
