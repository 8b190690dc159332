"""The topics model (topics.json) and the chapter rules YouTube enforces."""

from __future__ import annotations

import math
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from pipeline.timecodes import MIN_CHAPTER_SECONDS, MIN_CHAPTERS, Chapter, clean_title, format_tc

__all__ = [
    "MIN_GAP_SECONDS",
    "Break",
    "Chapter",
    "Subtopic",
    "Topic",
    "Topics",
    "chapters",
    "chapters_text",
    "from_chapters",
    "normalize",
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


def _fits(start: float, previous: float, duration: float, min_len: float) -> bool:
    return start - previous >= min_len and duration - start >= min_len


def chapters(
    topics: Topics,
    duration: float,
    min_len: float = MIN_CHAPTER_SECONDS,
    min_count: int = MIN_CHAPTERS,
) -> list[Chapter]:
    """Chapters that YouTube will show: the first at 0:00, each at least ``min_len`` seconds,
    at least ``min_count`` of them.

    Topics that would make a chapter too short are skipped; if that leaves too few,
    subtopics are promoted, then the longest chapters are split in halves (titled
    "Title (2)"). Returns [] when the video is too short for ``min_count`` chapters
    or there are no topics to name them after. Starts are whole seconds.
    """
    if not math.isfinite(duration) or duration < min_len * min_count:
        return []
    normal = normalize(topics, duration)
    if not normal.topics:
        return []

    def select(points: list[tuple[float, str]]) -> list[tuple[float, str]]:
        chosen: list[tuple[float, str]] = []
        for start, title in sorted(points, key=lambda p: p[0]):
            start = float(math.floor(start))
            if not chosen:
                chosen.append((0.0, title))
            elif _fits(start, chosen[-1][0], duration, min_len):
                chosen.append((start, title))
        return chosen

    points = [(t.start, t.title) for t in normal.topics]
    chosen = select(points)
    if len(chosen) < min_count:
        points += [(s.start, s.title) for t in normal.topics for s in t.subtopics]
        chosen = select(points)

    # Split the longest chapter in halves; the pieces keep the topic's name, numbered.
    origin = {start: title for start, title in chosen}
    pieces: set[float] = set()
    while len(chosen) < min_count:
        ends = [start for start, _ in chosen[1:]] + [duration]
        lengths = [end - start for (start, _), end in zip(chosen, ends, strict=True)]
        longest = max(range(len(chosen)), key=lambda i: lengths[i])
        start = chosen[longest][0]
        middle = float(math.floor(start + lengths[longest] / 2))
        if middle - start < min_len or ends[longest] - middle < min_len:
            break
        origin[middle] = origin[start]
        pieces.add(middle)
        chosen.insert(longest + 1, (middle, origin[start]))
    if pieces:
        numbers: dict[str, int] = {}
        for i, (start, title) in enumerate(chosen):
            if start in pieces:
                numbers[title] = numbers.get(title, 1) + 1
                chosen[i] = (start, f"{title} ({numbers[title]})")

    if len(chosen) < min_count:
        return []
    return [Chapter(start=start, title=title) for start, title in chosen]


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
