"""Topics and subtitles land where the words are, on the published timeline, pauses removed.

A lecture in three sections is run through `leap process --remove-pauses` with a chat model
that, like a real one, reads the `[HH:MM:SS] text` lines it is sent and names the line where
each subject begins. Whatever the trimming did, those times must match where the sections
begin in the published video.
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

from pipeline.timecodes import parse_tc
from pipeline.timeline import Timeline
from tests import synth
from tests.fakes.openai import FakeOpenAI
from tests.synth import Lecture, Silence, Speech

SECTIONS = {
    "music": (
        "Welcome everyone. Today we start with music.",
        "Music is made of rhythm and melody.",
        "A melody is a line of notes that we remember.",
        "Rhythm tells us when each note is played.",
    ),
    "weather": (
        "Now let us talk about the weather.",
        "The weather changes with the seasons.",
        "In winter the weather is cold and the days are short.",
        "In summer the weather is warm and the days are long.",
    ),
    "planets": (
        "Finally we discuss the planets of the solar system.",
        "The planets move around the sun.",
        "The inner planets are small and made of rock.",
        "The outer planets are large and made of gas.",
    ),
}
# Each section runs longer than a chapter may be short (ten seconds) once pauses are cut, so
# every one of them is a topic of its own.
LINE = re.compile(r"\[(\d{2}:\d{2}:\d{2})\]\s*(.+)")


@dataclass
class Processed:
    lecture: Lecture
    out: Path
    starts: dict[str, float]
    """Where each section's first sentence begins on the source timeline."""


def _parts() -> list[Silence | Speech]:
    parts: list[Silence | Speech] = [Silence(5.0)]
    for i, sentences in enumerate(SECTIONS.values()):
        if i:
            parts.append(Silence(7.0))
        for j, sentence in enumerate(sentences):
            if j:
                parts.append(Silence(0.8))
            parts.append(Speech(sentence))
    parts.append(Silence(5.0))
    return parts


def _chapters_from_lines(body: dict[str, Any]) -> str:
    """A model that reads the timecoded lines and names where each subject first comes up,
    in any form of the word (the recogniser may write "planet's" for "planets")."""
    text = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
    lines = [(m.group(1), m.group(2).lower()) for m in LINE.finditer(text)]
    topics = []
    for subject in SECTIONS:
        stem = subject.removesuffix("s")
        found = next((tc for tc, words in lines if stem in words), None)
        if found is not None:
            topics.append({"start": found, "title": subject.title(), "subtopics": []})
    return json.dumps({"summary": "Three subjects.", "topics": topics, "breaks": []})


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def processed(tmp_path_factory: pytest.TempPathFactory) -> Processed:
    folder = tmp_path_factory.mktemp("sections")
    lecture = synth.make_lecture(folder / "sections.mp4", _parts())
    # Each section's first phrase: phrases are numbered in the order they are spoken.
    per_section = len(SECTIONS["music"])
    firsts = [0, per_section, 2 * per_section]
    starts = {s: lecture.words[i][0] for s, i in zip(SECTIONS, firsts, strict=True)}
    out = folder / "out"
    async with FakeOpenAI() as llm:
        llm.chat = _chapters_from_lines
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "TRANSCRIBE_"))}
        env.update(LLM_BASE_URL=llm.base_url, LLM_API_KEY=llm.api_key or "", LLM_MODEL="m")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "leap.cli", "process", str(lecture.path),
            "--out", str(out), "--remove-pauses", "--lang", "en",
            cwd=folder, env=env, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, stderr = await asyncio.wait_for(proc.communicate(), 300)
        assert proc.returncode == 0, stderr.decode()
        assert llm.calls("chat"), "the chat model was never asked"
    return Processed(lecture, out, starts)


async def test_topics_start_within_two_seconds_of_the_sections(processed: Processed) -> None:
    report = json.loads((processed.out / "report.json").read_text())
    timeline = Timeline.of(report["keep"])
    # The pauses between sections really were shortened.
    assert report["duration"] < processed.lecture.duration - 15
    topics = json.loads((processed.out / "topics.json").read_text())["topics"]
    by_title = {t["title"].lower(): t["start"] for t in topics}
    assert set(by_title) == set(SECTIONS)
    for subject, source_start in processed.starts.items():
        expected = 0.0 if subject == "music" else timeline.to_output(source_start)
        assert abs(by_title[subject] - expected) <= 2.0, (subject, by_title, expected)


async def test_subtitles_cover_the_voiced_time(processed: Processed) -> None:
    report = json.loads((processed.out / "report.json").read_text())
    timeline = Timeline.of(report["keep"])
    voiced = [(timeline.to_output(s), timeline.to_output(e)) for s, e in processed.lecture.words]
    srt = (processed.out / "subtitles.srt").read_text()
    cues = [
        (parse_tc(a.replace(",", ".")), parse_tc(b.replace(",", ".")))
        for a, b in re.findall(r"(\S+) --> (\S+)", srt)
    ]
    covered = sum(max(0.0, min(e, ce) - max(s, cs)) for s, e in voiced for cs, ce in cues)
    total = sum(e - s for s, e in voiced)
    assert covered / total >= 0.95, (covered, total)
    for start, end in cues:
        assert end - start <= 7.0
