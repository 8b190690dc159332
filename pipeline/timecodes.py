"""Timecodes: formatting, parsing, and the user's hand-edited chapter list.

Rules a corrected list keeps:

- A line's error names the line a person has to change: a topic shorter than
  ``MIN_CHAPTER_SECONDS`` is reported on its own line (the one it starts on), not on the next.
- How many chapters a list needs is the caller's to say (``min_count``): YouTube shows a
  chapter list only from ``MIN_CHAPTERS`` on, but a list that goes elsewhere may hold one
  topic. A list with no topic at all is never accepted.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

# YouTube ignores chapters shorter than this.
MIN_CHAPTER_SECONDS = 10.0
MIN_CHAPTERS = 3


class Chapter(BaseModel):
    """One chapter of a published video: where it starts and what it is called."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    start: float
    title: str


# Zero-width joiners shape Persian and Indic script and emoji sequences; every other format
# character (zero-width spaces, bidirectional overrides and isolates, the BOM) and every
# control character only hides or rearranges what a reader sees.
_SHAPING = frozenset("\u200c\u200d")


def clean_title(text: str) -> str:
    """A chapter title as a reader sees it: invisible and reordering characters removed,
    whitespace folded; empty when nothing visible is left."""
    kept = "".join(
        ch for ch in text if ch in _SHAPING or unicodedata.category(ch) not in ("Cc", "Cf")
    )
    title = " ".join(kept.split())
    if not any(unicodedata.category(ch)[0] not in "CZ" for ch in title):
        return ""
    return title


def _whole_seconds(seconds: float) -> int:
    # Floor, not round: a chapter link that lands a moment early is harmless,
    # one that lands late skips the first words.
    if not math.isfinite(seconds) or seconds <= 0:
        return 0
    return int(seconds)


def format_tc(seconds: float, always_hours: bool = False) -> str:
    """Format as YouTube does: "0:00", "12:34", "1:02:03" (or "0:12:34" with always_hours)."""
    total = _whole_seconds(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours or always_hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


def format_hms(seconds: float) -> str:
    """Format as a fixed-width "HH:MM:SS"."""
    total = _whole_seconds(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}"


_TC_RE = re.compile(r"^(\d{1,4})(?::(\d{1,2}))?(?::(\d{1,2}))?(?:[.,](\d{1,3}))?$")


def parse_tc(text: str) -> float:
    """Parse "1:02:03", "02:03" or "62:03" (minutes may exceed 59 without hours) to seconds.

    A fraction of a second is accepted after "." or ",". Raises ValueError with a
    reason a person can act on.
    """
    value = text.strip()
    match = _TC_RE.match(value)
    if match is None or match.group(2) is None:
        raise ValueError(f"{value!r} is not a time: expected MM:SS or HH:MM:SS")
    first, second, third, fraction = match.groups()
    if third is None:
        hours, minutes, secs = 0, int(first), int(second)
    else:
        hours, minutes, secs = int(first), int(second), int(third)
        if minutes >= 60:
            raise ValueError(f"{value!r}: minutes must be below 60 when hours are given")
    if secs >= 60:
        raise ValueError(f"{value!r}: seconds must be below 60")
    result = float(hours * 3600 + minutes * 60 + secs)
    if fraction:
        result += int(fraction) / 10 ** len(fraction)
    return result


@dataclass(frozen=True, slots=True)
class LineError:
    """What is wrong with one line of a chapter list.

    ``code`` is a stable key the bot translates; ``line_no`` counts from 1 and is
    0 for problems of the list as a whole ("too_few", "no_topics", "too_many_lines").
    """

    line_no: int
    line: str
    code: str


class TopicListError(ValueError):
    """A chapter list a person typed could not be accepted; ``errors`` says where and why."""

    def __init__(self, errors: list[LineError]) -> None:
        self.errors = errors
        summary = ", ".join(f"{e.code}@{e.line_no}" for e in errors[:10])
        super().__init__(f"chapter list rejected: {summary}")


# A leading list bullet, an optional bracket around the time, then separators
# people put between the time and the title ("00:00 - Intro", "[01:02] Intro",
# "1:02:03 — Intro", "12:30. Intro").
_LINE_RE = re.compile(
    r"^[-*•–—]?\s*[\[(]?(?P<tc>\d{1,4}(?::\d{1,2}){1,2}(?:[.,]\d{1,3})?)[\])]?"
    r"(?:(?:\s*[-–—.,:|)]+)?\s+|\s*[-–—.,:|)]+\s*|$)(?P<title>.*)$"
)
_LINE_PREVIEW = 200
# Each accepted line needs a time and a title, so a sane list is far shorter
# than this per line; longer text is refused before it is split.
_MAX_CHARS_PER_LINE = 500


def parse_topic_list(
    text: str, duration: float, max_lines: int = 200, min_count: int = 1
) -> list[Chapter]:
    """Parse a person's corrected chapter list: the first at 00:00, each topic at least
    ``MIN_CHAPTER_SECONDS`` long, at least ``min_count`` of them (and never none).

    Lines look like ``HH:MM:SS Title`` or ``MM:SS Title``; blank lines are skipped.
    Every problem found is reported at once in a TopicListError, on the line to change.
    """
    if text.count("\n") + 1 > max_lines * 4 or len(text) > max_lines * _MAX_CHARS_PER_LINE:
        raise TopicListError([LineError(0, "", "too_many_lines")])
    numbered = [(no, line.strip()) for no, line in enumerate(text.splitlines(), 1)]
    numbered = [(no, line) for no, line in numbered if line]
    if len(numbered) > max_lines:
        raise TopicListError([LineError(0, "", "too_many_lines")])

    errors: list[LineError] = []
    chapters: list[Chapter] = []
    last_start: float | None = None
    # The line the previous topic starts on: a topic too short is that line's to fix.
    last_line: tuple[int, str] = (0, "")
    for line_no, line in numbered:
        preview = line[:_LINE_PREVIEW]
        match = _LINE_RE.match(line)
        if match is None:
            errors.append(LineError(line_no, preview, "bad_time"))
            continue
        try:
            start = parse_tc(match.group("tc"))
        except ValueError:
            errors.append(LineError(line_no, preview, "bad_time"))
            continue
        title = clean_title(match.group("title"))
        code: str | None = None
        if not title:
            code = "no_title"
        elif start >= duration:
            code = "past_end"
        elif last_start is None and start != 0:
            code = "first_not_zero"
        elif last_start is not None and start <= last_start:
            code = "not_increasing"
        elif last_start is not None and start - last_start < MIN_CHAPTER_SECONDS:
            # The topic before this line is the short one: its line is the one to change.
            short_no, short_line = last_line
            if not any(e.line_no == short_no for e in errors):
                errors.append(LineError(short_no, short_line, "too_close"))
        if code is None and duration - start < MIN_CHAPTER_SECONDS:
            # The last topic would be shorter than the rest of the video allows.
            code = "too_close"
        if code is not None:
            errors.append(LineError(line_no, preview, code))
            if code != "past_end":
                # Keep later lines measured against what the person wrote.
                last_start, last_line = start, (line_no, preview)
            continue
        chapters.append(Chapter(start=start, title=title))
        last_start, last_line = start, (line_no, preview)

    if not errors and not chapters:
        errors.append(LineError(0, "", "no_topics"))
    elif not errors and len(chapters) < min_count:
        errors.append(LineError(0, "", "too_few"))
    if errors:
        errors.sort(key=lambda e: e.line_no or len(numbered) + 1)
        raise TopicListError(errors)
    return chapters
