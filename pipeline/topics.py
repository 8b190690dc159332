"""The topics model (topics.json) and the chapter rules.

- A chapter is a real topic: nothing is padded or copied to reach a platform's minimum.
  YouTube shows a chapter list only from ``MIN_CHAPTERS`` chapters on; with fewer, its
  description carries no chapter list (`youtube_chapters`) while other platforms and the
  file export still get the chapters there are.
- Each chapter is at least ``MIN_CHAPTER_SECONDS`` long and the first starts at 0:00.
- A topic begins where its first words are heard (`on_first_words`): never in a pause, a
  break or the middle of a word, whichever method found it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from pipeline.timecodes import MIN_CHAPTER_SECONDS, MIN_CHAPTERS, Chapter, clean_title, format_tc
from pipeline.transcript import Word

__all__ = [
    "MIN_GAP_SECONDS",
    "Break",
    "Chapter",
    "Subtopic",
    "Topic",
    "Topics",
    "chapter_spaced",
    "chapters",
    "chapters_text",
    "from_chapters",
    "normalize",
    "on_first_words",
    "youtube_chapters",
]

# Topics that start closer together than this are one topic said twice.
MIN_GAP_SECONDS = 5.0


class Subtopic(BaseModel):
    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    start: float
    title: str


class Topic(BaseModel):
    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    start: float
    title: str
    subtopics: list[Subtopic] = Field(default_factory=list)


class Break(BaseModel):
    """A stretch without lecture content (a pause, a recess) worth telling viewers about."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    start: float
    end: float


class Topics(BaseModel):
    """What topics.json holds."""

    model_config = ConfigDict(frozen=True)

    summary: str = ""
    topics: list[Topic] = Field(default_factory=list)
    breaks: list[Break] = Field(default_factory=list)

    def dump_json(self) -> str:
        return self.model_dump_json(indent=2)

    @classmethod
    def load_json(cls, path: str | Path) -> Topics:
        return cls.model_validate_json(Path(path).read_text(encoding="utf-8"))


def _clamp(value: float, low: float, high: float) -> float:
    if not math.isfinite(value):
        return low
    return min(max(value, low), high)


def normalize(topics: Topics, duration: float, min_gap: float = MIN_GAP_SECONDS) -> Topics:
    """Make topics that came from a model or a person safe to use.

    Times are clamped into [0, duration] and sorted; titles are trimmed and empty
    ones dropped; a topic that repeats the previous title or starts within
    ``min_gap`` seconds of it is folded into it; topics starting in the last
    ``min_gap`` seconds are dropped; the first topic starts at 0. Subtopics are
    moved under the topic whose time span holds them. Breaks are clamped, sorted
    and merged where they overlap.
    """
    duration = max(0.0, duration) if math.isfinite(duration) else 0.0

    candidates = sorted(
        (
            (_clamp(t.start, 0.0, duration), clean_title(t.title), t.subtopics)
            for t in topics.topics
            if clean_title(t.title)
        ),
        key=lambda item: item[0],
    )
    kept: list[tuple[float, str]] = []
    loose: list[Subtopic] = []
    for start, title, subtopics in candidates:
        loose.extend(subtopics)
        if kept:
            previous_start, previous_title = kept[-1]
            same_title = title.casefold() == previous_title.casefold()
            if same_title or start - previous_start < min_gap or duration - start < min_gap:
                continue
        kept.append((start, title))
    if kept:
        kept[0] = (0.0, kept[0][1])

    grouped: list[list[Subtopic]] = [[] for _ in kept]
    starts = [start for start, _ in kept]
    for sub in loose:
        title = clean_title(sub.title)
        if not title or not kept:
            continue
        start = _clamp(sub.start, 0.0, duration)
        index = max(i for i, s in enumerate(starts) if s <= start)
        grouped[index].append(Subtopic(start=start, title=title))

    result_topics: list[Topic] = []
    for i, (start, title) in enumerate(kept):
        end = starts[i + 1] if i + 1 < len(starts) else duration
        subtopics: list[Subtopic] = []
        last = start
        for sub in sorted(grouped[i], key=lambda s: s.start):
            if sub.start - last < min_gap or end - sub.start < min_gap:
                continue
            if subtopics and sub.title.casefold() == subtopics[-1].title.casefold():
                continue
            subtopics.append(sub)
            last = sub.start
        result_topics.append(Topic(start=start, title=title, subtopics=subtopics))

    breaks: list[Break] = []
    for item in sorted(topics.breaks, key=lambda b: b.start):
        start = _clamp(item.start, 0.0, duration)
        end = _clamp(item.end, 0.0, duration)
        if end <= start:
            continue
        if breaks and start <= breaks[-1].end:
            if end > breaks[-1].end:
                breaks[-1] = Break(start=breaks[-1].start, end=end)
            continue
        breaks.append(Break(start=start, end=end))

    return Topics(summary=topics.summary.strip(), topics=result_topics, breaks=breaks)


def _spaced(topics: list[Topic], duration: float, min_len: float) -> list[Topic]:
    """The topics that make chapters of at least ``min_len`` seconds, measured on the whole
    seconds a chapter list shows; the first stays at 0."""
    kept: list[Topic] = []
    previous = 0.0
    for topic in topics:
        start = float(math.floor(topic.start))
        if not kept:
            kept.append(topic)
        elif start - previous >= min_len and duration - start >= min_len:
            kept.append(topic)
            previous = start
    return kept


def chapters(
    topics: Topics, duration: float, min_len: float = MIN_CHAPTER_SECONDS
) -> list[Chapter]:
    """The recording's chapters: one per topic, the first at 0:00, each at least ``min_len``
    seconds long; starts are whole seconds.

    Topics that would make a chapter too short are skipped. Nothing is invented: a recording
    with one real topic has one chapter, and whether a list is long enough for a platform
    (YouTube shows chapters only from ``MIN_CHAPTERS``) is `youtube_chapters`' to say.
    Returns [] when there are no topics or the video is shorter than one chapter.
    """
    if not math.isfinite(duration) or duration < min_len:
        return []
    kept = _spaced(normalize(topics, duration).topics, duration, min_len)
    return [
        Chapter(start=0.0 if i == 0 else float(math.floor(t.start)), title=t.title)
        for i, t in enumerate(kept)
    ]


def chapter_spaced(topics: Topics, duration: float, min_len: float = MIN_CHAPTER_SECONDS) -> Topics:
    """``topics`` keeping only the topics that become chapters, so a count of topics is the
    count of chapters a person will see."""
    normal = normalize(topics, duration)
    if not math.isfinite(duration) or duration < min_len:
        return normal.model_copy(update={"topics": []})
    return normal.model_copy(update={"topics": _spaced(normal.topics, duration, min_len)})


def youtube_chapters(found: list[Chapter]) -> list[Chapter]:
    """The chapter list a YouTube description may carry: all of ``found`` when YouTube would
    show it (at least ``MIN_CHAPTERS``), else none, never a list padded with copies."""
    return list(found) if len(found) >= MIN_CHAPTERS else []


def on_first_words(topics: Topics, words: Sequence[Word]) -> Topics:
    """``topics`` with every start after the first moved onto the first word heard from it:
    a start in silence goes forward to the next word, one inside a word back to its start.

    A model or a boundary finder places a topic roughly; the viewer who follows the chapter
    link should hear the topic begin, not sit through the pause before it.
    """
    heard = sorted((w for w in words if w.end > w.start), key=lambda w: w.start)
    if not heard:
        return topics

    def first_word(time: float) -> float:
        for word in heard:
            if word.end > time:
                return word.start
        return time

    moved: list[Topic] = []
    for i, topic in enumerate(topics.topics):
        start = topic.start if i == 0 else first_word(topic.start)
        subtopics = [s.model_copy(update={"start": first_word(s.start)}) for s in topic.subtopics]
        moved.append(topic.model_copy(update={"start": start, "subtopics": subtopics}))
    return topics.model_copy(update={"topics": moved})


def chapters_text(chapters: list[Chapter]) -> str:
    """Chapter lines in the form YouTube reads from a description: "0:00 Intro"."""
    return "\n".join(f"{format_tc(c.start)} {c.title}" for c in chapters)


def from_chapters(
    found: list[Chapter], summary: str = "", breaks: list[Break] | None = None
) -> Topics:
    """Topics from a chapter list, e.g. one a person corrected by hand."""
    return Topics(
        summary=summary,
        topics=[Topic(start=c.start, title=c.title) for c in found],
        breaks=list(breaks or []),
    )
