"""The topics model's answers read: parsed, checked, and fitted to the lecture.

Rules it keeps:

- An answer is one JSON object (a Markdown code fence around it is allowed) in the shape of
  ``prompts.SHAPE``; anything else raises :class:`Invalid`, whose message says exactly what
  is wrong, because it goes back to the model for the repair round.
- A time is seconds (a number or "123.5") or a clock time ("HH:MM:SS", "MM:SS", brackets
  allowed); a break that does not end after it starts is dropped.
- A window's topics are clamped into the window (:func:`clamped`); the final answer's times
  are snapped to the windows' times within :data:`SNAP_SECONDS` (:func:`snapped`), so the
  model cannot drift them; and :func:`merged` is the deterministic stand-in when the final
  answer is unusable: the windows' results in order, their summaries joined.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any

from pipeline.timecodes import parse_tc
from pipeline.topics import Break, Subtopic, Topic, Topics

# Reduce-stage times closer than this to a window result's time are taken to mean it.
SNAP_SECONDS = 45.0
_JOINED_SUMMARY_CHARS = 700


class Invalid(ValueError):
    """The model's answer is not the JSON asked for; the message goes back to the model."""


def parse_time(value: object) -> float:
    """Seconds from a number or a "HH:MM:SS" / "MM:SS" / "123.5" string (brackets allowed)."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a time")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip().strip("[]()").strip()
        if ":" in text:
            return parse_tc(text)
        try:
            number = float(text.rstrip("s"))
        except ValueError:
            raise ValueError(f"{value!r} is not a time: expected HH:MM:SS or seconds") from None
    else:
        raise ValueError(f"{value!r} is not a time: expected HH:MM:SS or seconds")
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a time")
    return number


def _strip_fences(content: str) -> str:
    text = content.strip()
    fenced = re.fullmatch(r"```(?:json|JSON)?\s*(.*?)\s*```", text, flags=re.DOTALL)
    return fenced.group(1) if fenced else text


def _title(item: dict[str, Any], where: str) -> str:
    title = item.get("title")
    if not isinstance(title, str) or not title.strip():
        raise Invalid(f'{where} has no "title" string')
    return title


def _start(item: dict[str, Any], where: str, key: str = "start") -> float:
    if key not in item:
        raise Invalid(f'{where} has no "{key}"')
    try:
        return parse_time(item[key])
    except ValueError as exc:
        raise Invalid(f'{where}: "{key}" {exc}') from None


def parse_reply(content: str | None) -> Topics:
    """The model's answer as Topics (not yet normalized); raises Invalid saying what is wrong."""
    if content is None or not content.strip():
        raise Invalid("the reply was empty")
    try:
        data = json.loads(_strip_fences(content))
    except json.JSONDecodeError as exc:
        raise Invalid(f"the reply is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise Invalid("the reply must be a JSON object")
    summary = data.get("summary", "")
    if summary is None:
        summary = ""
    if not isinstance(summary, str):
        raise Invalid('"summary" must be a string')
    raw_topics = data.get("topics")
    if not isinstance(raw_topics, list):
        raise Invalid('"topics" must be a list of objects with "start" and "title"')
    topics: list[Topic] = []
    for i, item in enumerate(raw_topics, 1):
        where = f"topic {i}"
        if not isinstance(item, dict):
            raise Invalid(f"{where} is not an object")
        subtopics: list[Subtopic] = []
        raw_subs = item.get("subtopics") or []
        if not isinstance(raw_subs, list):
            raise Invalid(f'{where}: "subtopics" must be a list')
        for j, sub in enumerate(raw_subs, 1):
            sub_where = f"subtopic {j} of topic {i}"
            if not isinstance(sub, dict):
                raise Invalid(f"{sub_where} is not an object")
            subtopics.append(Subtopic(start=_start(sub, sub_where), title=_title(sub, sub_where)))
        topics.append(
            Topic(start=_start(item, where), title=_title(item, where), subtopics=subtopics)
        )
    breaks: list[Break] = []
    raw_breaks = data.get("breaks") or []
    if not isinstance(raw_breaks, list):
        raise Invalid('"breaks" must be a list')
    for i, item in enumerate(raw_breaks, 1):
        where = f"break {i}"
        if not isinstance(item, dict):
            raise Invalid(f"{where} is not an object")
        start, end = _start(item, where), _start(item, where, "end")
        if end > start:
            breaks.append(Break(start=start, end=end))
    return Topics(summary=summary, topics=topics, breaks=breaks)


def clamped(topics: Topics, low: float, high: float) -> Topics:
    def clamp(value: float) -> float:
        return min(max(value, low), high)

    return Topics(
        summary=topics.summary,
        topics=[
            Topic(
                start=clamp(t.start),
                title=t.title,
                subtopics=[Subtopic(start=clamp(s.start), title=s.title) for s in t.subtopics],
            )
            for t in topics.topics
        ],
        breaks=[Break(start=clamp(b.start), end=clamp(b.end)) for b in topics.breaks],
    )


def _snap(value: float, candidates: Sequence[float]) -> float:
    if not candidates:
        return value
    nearest = min(candidates, key=lambda c: abs(c - value))
    return nearest if abs(nearest - value) <= SNAP_SECONDS else value


def snapped(topics: Topics, candidates: Sequence[float]) -> Topics:
    return Topics(
        summary=topics.summary,
        topics=[
            Topic(
                start=_snap(t.start, candidates),
                title=t.title,
                subtopics=[
                    Subtopic(start=_snap(s.start, candidates), title=s.title) for s in t.subtopics
                ],
            )
            for t in topics.topics
        ],
        breaks=topics.breaks,
    )


def joined_summary(summaries: Sequence[str]) -> str:
    text = " ".join(s.strip() for s in summaries if s.strip())
    if len(text) <= _JOINED_SUMMARY_CHARS:
        return text
    cut = text[:_JOINED_SUMMARY_CHARS]
    end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
    return cut[: end + 1] if end > 0 else cut.rstrip() + "…"


def merged(parts: Sequence[Topics]) -> Topics:
    """The deterministic reduce: window results in order, summaries joined."""
    return Topics(
        summary=joined_summary([p.summary for p in parts]),
        topics=[t for p in parts for t in p.topics],
        breaks=[b for p in parts for b in p.breaks],
    )
