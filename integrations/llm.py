"""Topics with timecodes from any OpenAI-compatible chat API (DeepSeek, OpenAI, a local server).

The transcript goes to the model as ``[HH:MM:SS] text`` lines on the published
timeline, and the model answers one JSON object::

    {"summary": str,
     "topics": [{"start": "HH:MM:SS" | seconds, "title": str,
                 "subtopics": [{"start": ..., "title": str}]}],
     "breaks": [{"start": ..., "end": ...}]}

Long transcripts are cut into windows of at most ``max_chars_per_window``
characters at line boundaries, so a lecture of any length fits any context.

- Map: each window is asked for its own topics (about one per eight minutes of
  the window), concurrently. Times outside a window are pulled into it.
- Reduce: one more call reads only the windows' results (summaries and topic
  lists with their times, never the transcript) and writes the lecture's final
  summary and topic list. Its times are snapped to the window results' times
  when within :data:`SNAP_SECONDS`, so the model cannot drift them. If the
  reduce answer is unusable even after the repair retry, the window results
  are merged deterministically instead (concatenated in order, then
  ``normalize`` folds repeats) and their summaries joined: the windows were
  good, so the lecture still gets its chapters.

An answer that is not JSON or not in the shape above gets one repair retry with
the error sent back; a second bad answer raises ``TopicsError("invalid_json")``.
Every result goes through :func:`pipeline.topics.normalize`: times clamped into
the video, duplicates folded, order enforced. 429/5xx, timeouts and dropped
connections are retried by :func:`integrations.ai_retry.with_retries` (growing
delays with jitter, honouring Retry-After), the loop speech-to-text uses too;
``TopicsError`` is the topics kind of :class:`integrations.ai_errors.AIServiceError`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import openai
from openai import AsyncOpenAI

from integrations import ai_retry, openai_api
from integrations.ai_errors import (
    AUTH,
    BAD_REQUEST,
    MODEL_MISSING,
    QUOTA,
    RATE_LIMITED,
    TOO_LARGE,
    UNAVAILABLE,
    AIServiceError,
)
from integrations.ai_retry import Backoff
from pipeline.timecodes import format_hms, parse_tc
from pipeline.topics import Break, Subtopic, Topic, Topics, normalize
from pipeline.transcript import Transcript

__all__ = [
    "AUTH",
    "BAD_REQUEST",
    "CODES",
    "INVALID_JSON",
    "MODEL_MISSING",
    "QUOTA",
    "RATE_LIMITED",
    "UNAVAILABLE",
    "TopicsError",
    "extract_topics",
    "parse_reply",
    "parse_time",
    "topic_target",
]

log = logging.getLogger(__name__)

INVALID_JSON = "invalid_json"
"""The model's answer was not the JSON asked for, even after a repair retry."""

CODES = frozenset(
    {AUTH, BAD_REQUEST, UNAVAILABLE, RATE_LIMITED, QUOTA, MODEL_MISSING, INVALID_JSON}
)

# Reduce-stage times closer than this to a window result's time are taken to mean it.
SNAP_SECONDS = 45.0
# A main topic per this many seconds of lecture, within the bounds below.
SECONDS_PER_TOPIC = 8 * 60
MIN_TOPICS, MAX_TOPICS = 3, 20
_JOINED_SUMMARY_CHARS = 700

_LANGUAGES = {
    "en": "English",
    "ru": "Russian",
    "uk": "Ukrainian",
    "be": "Belarusian",
    "kk": "Kazakh",
    "uz": "Uzbek",
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "it": "Italian",
    "pt": "Portuguese",
    "pl": "Polish",
    "tr": "Turkish",
    "zh": "Chinese",
    "ja": "Japanese",
    "ko": "Korean",
    "ar": "Arabic",
}

_SHAPE = (
    '{"summary": "...", "topics": [{"start": "HH:MM:SS", "title": "...", '
    '"subtopics": [{"start": "HH:MM:SS", "title": "..."}]}], '
    '"breaks": [{"start": "HH:MM:SS", "end": "HH:MM:SS"}]}'
)

_MAP_SYSTEM = """You turn a lecture transcript into a table of contents for video chapters.
Each transcript line is "[HH:MM:SS] text", the time on the video where the line is said.

Answer with one JSON object and nothing else, in this shape:
{shape}

Rules:
- "topics": the main topics in order of time. The first starts at the first line.
  Each "start" is copied from the line where the topic begins.
- "title": 2 to 7 words naming what is taught, specific to this lecture,
  without numbering, quotes or times. Write titles in {language}.
- "subtopics": optional, only for clearly separate parts inside a long topic; [] otherwise.
- "breaks": only where the lecture stops (a recess, technical trouble); [] otherwise.
- "summary": two or three sentences in {language} on what the lecture covers."""

_REDUCE_SYSTEM = """You write the final table of contents of a lecture from the tables of contents
of its consecutive parts, made separately.

Answer with one JSON object and nothing else, in this shape:
{shape}

Rules:
- Merge a topic that continues across the border of two parts into one, and drop repeats.
- Keep the important topics as main topics; make minor ones subtopics of the topic they
  belong to, or leave them out.
- Copy every "start" from the parts; never invent times. Keep topics in order of time.
- Titles: 2 to 7 words, in {language}, without numbering, quotes or times.
- "breaks": copy the parts' breaks.
- "summary": two or three sentences in {language} on what the whole lecture covers."""


class TopicsError(AIServiceError):
    """Topics could not be had from the model; ``code`` is one of :data:`CODES`."""

    # A chat request too large for the model is the same fault as any other refusal here.
    RENAMED: ClassVar[dict[str, str]] = {TOO_LARGE: BAD_REQUEST}


class _Invalid(ValueError):
    """The model's answer is not the JSON asked for; the message goes back to the model."""


def topic_target(seconds: float) -> tuple[int, int, int]:
    """(low, about, high) number of main topics for a stretch of lecture this long."""
    about = round(max(seconds, 0.0) / SECONDS_PER_TOPIC)
    about = min(MAX_TOPICS, max(MIN_TOPICS, about))
    return max(2, about - 2), about, about + 3


def _window_target(seconds: float) -> tuple[int, int, int]:
    about = max(1, round(max(seconds, 0.0) / SECONDS_PER_TOPIC))
    return max(1, about - 1), about, about + 2


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
        raise _Invalid(f'{where} has no "title" string')
    return title


def _start(item: dict[str, Any], where: str, key: str = "start") -> float:
    if key not in item:
        raise _Invalid(f'{where} has no "{key}"')
    try:
        return parse_time(item[key])
    except ValueError as exc:
        raise _Invalid(f'{where}: "{key}" {exc}') from None


def parse_reply(content: str | None) -> Topics:
    """The model's answer as Topics (not yet normalized); raises _Invalid saying what is wrong."""
    if content is None or not content.strip():
        raise _Invalid("the reply was empty")
    try:
        data = json.loads(_strip_fences(content))
    except json.JSONDecodeError as exc:
        raise _Invalid(f"the reply is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise _Invalid("the reply must be a JSON object")
    summary = data.get("summary", "")
    if summary is None:
        summary = ""
    if not isinstance(summary, str):
        raise _Invalid('"summary" must be a string')
    raw_topics = data.get("topics")
    if not isinstance(raw_topics, list):
        raise _Invalid('"topics" must be a list of objects with "start" and "title"')
    topics: list[Topic] = []
    for i, item in enumerate(raw_topics, 1):
        where = f"topic {i}"
        if not isinstance(item, dict):
            raise _Invalid(f"{where} is not an object")
        subtopics: list[Subtopic] = []
        raw_subs = item.get("subtopics") or []
        if not isinstance(raw_subs, list):
            raise _Invalid(f'{where}: "subtopics" must be a list')
        for j, sub in enumerate(raw_subs, 1):
            sub_where = f"subtopic {j} of topic {i}"
            if not isinstance(sub, dict):
                raise _Invalid(f"{sub_where} is not an object")
            subtopics.append(Subtopic(start=_start(sub, sub_where), title=_title(sub, sub_where)))
        topics.append(
            Topic(start=_start(item, where), title=_title(item, where), subtopics=subtopics)
        )
    breaks: list[Break] = []
    raw_breaks = data.get("breaks") or []
    if not isinstance(raw_breaks, list):
        raise _Invalid('"breaks" must be a list')
    for i, item in enumerate(raw_breaks, 1):
        where = f"break {i}"
        if not isinstance(item, dict):
            raise _Invalid(f"{where} is not an object")
        start, end = _start(item, where), _start(item, where, "end")
        if end > start:
            breaks.append(Break(start=start, end=end))
    return Topics(summary=summary, topics=topics, breaks=breaks)


@dataclass(frozen=True)
class _Window:
    start: float
    end: float
    lines: list[str]


def _windows(transcript: Transcript, duration: float, max_chars: int) -> list[_Window]:
    """Timecoded lines packed into windows of at most ``max_chars`` characters."""
    lines: list[tuple[float, str]] = []
    for start, text in transcript.sentences():
        line = f"[{format_hms(start)}] {text}"
        lines.append((start, line[:max_chars]))
    groups: list[list[tuple[float, str]]] = []
    size = 0
    for start, line in lines:
        if groups and size + len(line) + 1 <= max_chars:
            groups[-1].append((start, line))
            size += len(line) + 1
        else:
            groups.append([(start, line)])
            size = len(line) + 1
    windows: list[_Window] = []
    for i, group in enumerate(groups):
        start = 0.0 if i == 0 else group[0][0]
        end = groups[i + 1][0][0] if i + 1 < len(groups) else duration
        windows.append(_Window(start=start, end=max(start, end), lines=[line for _, line in group]))
    return windows


def _language_name(language: str) -> str:
    code = language.split("-")[0].lower()
    return _LANGUAGES.get(code, f"the language of the transcript (code {language!r})")


def _clamped(topics: Topics, low: float, high: float) -> Topics:
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


def _snapped(topics: Topics, candidates: Sequence[float]) -> Topics:
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


def _joined_summary(summaries: Sequence[str]) -> str:
    text = " ".join(s.strip() for s in summaries if s.strip())
    if len(text) <= _JOINED_SUMMARY_CHARS:
        return text
    cut = text[:_JOINED_SUMMARY_CHARS]
    end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
    return cut[: end + 1] if end > 0 else cut.rstrip() + "…"


def _merged(parts: Sequence[Topics]) -> Topics:
    """The deterministic reduce: window results in order, summaries joined."""
    return Topics(
        summary=_joined_summary([p.summary for p in parts]),
        topics=[t for p in parts for t in p.topics],
        breaks=[b for p in parts for b in p.breaks],
    )


def _outline(index: int, count: int, window: _Window, part: Topics) -> str:
    lines = [f"Part {index} of {count} ({format_hms(window.start)}-{format_hms(window.end)})"]
    lines.append(f"Summary: {part.summary.strip() or '-'}")
    lines.append("Topics:")
    for topic in part.topics:
        lines.append(f"[{format_hms(topic.start)}] {topic.title}")
        lines.extend(f"    [{format_hms(s.start)}] {s.title}" for s in topic.subtopics)
    if part.breaks:
        spans = ", ".join(f"{format_hms(b.start)}-{format_hms(b.end)}" for b in part.breaks)
        lines.append(f"Breaks: {spans}")
    return "\n".join(lines)


class _Chat:
    """Chat completions with our own retries and the JSON repair round."""

    def __init__(
        self,
        client: AsyncOpenAI,
        *,
        model: str,
        temperature: float,
        backoff: Backoff,
    ) -> None:
        self.client = client
        self.model = model
        self.temperature = temperature
        self.backoff = backoff
        self.json_mode = True

    async def topics(self, system: str, user: str) -> Topics:
        messages: list[dict[str, str]] = [
            {"role": "system", "content": system},
            {"role": "user", "content": user},
        ]
        content, finish = await self._complete(messages)
        try:
            return parse_reply(content)
        except _Invalid as first:
            problem = str(first)
            if finish == "length":
                problem += "; the reply was cut off at the length limit, so keep it shorter"
            log.info("topics reply unusable (%s); asking for a repair", problem)
        messages += [
            {"role": "assistant", "content": (content or "")[:8000]},
            {
                "role": "user",
                "content": f"That reply cannot be used: {problem}. Answer again with only "
                f"the JSON object in the required shape:\n{_SHAPE}",
            },
        ]
        content, _ = await self._complete(messages)
        try:
            return parse_reply(content)
        except _Invalid as second:
            raise TopicsError(INVALID_JSON, f"after a repair retry: {second}") from None

    async def _complete(self, messages: list[dict[str, str]]) -> tuple[str | None, str | None]:
        async def once() -> tuple[str | None, str | None]:
            while True:
                extra: dict[str, Any] = {}
                if self.json_mode:
                    extra["response_format"] = {"type": "json_object"}
                try:
                    reply = await self.client.chat.completions.create(
                        model=self.model,
                        messages=messages,  # type: ignore[arg-type]
                        temperature=self.temperature,
                        **extra,
                    )
                except openai.APIStatusError as exc:
                    if (
                        exc.status_code in (400, 422)
                        and self.json_mode
                        and "response_format" in openai_api.error_message(exc)
                    ):
                        # The prompt asks for JSON anyway; the parser takes it without the mode.
                        self.json_mode = False
                        continue
                    raise
                if not reply.choices:
                    return None, None
                choice = reply.choices[0]
                return choice.message.content, choice.finish_reason

        return await ai_retry.with_retries(
            once, backoff=self.backoff, error=TopicsError, what="topics request", log=log
        )


async def _gather_all(jobs: Sequence[Any]) -> list[Any]:
    """Await coroutines together; the first failure cancels the rest and is raised."""
    tasks = [asyncio.ensure_future(job) for job in jobs]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
    return [task.result() for task in tasks]


async def extract_topics(
    transcript: Transcript,
    duration: float,
    *,
    base_url: str,
    api_key: str | None,
    model: str,
    language: str,
    max_chars_per_window: int = 24_000,
    concurrency: int = 3,
    max_attempts: int = 5,
    backoff_base: float = 1.0,
    backoff_cap: float = 60.0,
    timeout: float = 180.0,
    temperature: float = 0.2,
    client_factory: Callable[[], AsyncOpenAI] | None = None,
) -> Topics:
    """The lecture's summary, topics (with subtopics) and breaks, normalized to ``duration``.

    ``client_factory`` makes the client (the default is ``AsyncOpenAI`` on
    ``base_url`` with ``api_key``, SDK retries off); the client is closed when done.
    Raises :class:`TopicsError`.
    """
    windows = _windows(transcript, duration, max(200, max_chars_per_window))
    if not windows:
        return normalize(Topics(), duration)

    def default_client() -> AsyncOpenAI:
        return ai_retry.client(base_url, api_key, timeout)

    language_name = _language_name(language)
    map_system = _MAP_SYSTEM.format(shape=_SHAPE, language=language_name)
    gate = asyncio.Semaphore(max(1, concurrency))

    async with (client_factory or default_client)() as client:
        chat = _Chat(
            client,
            model=model,
            temperature=temperature,
            backoff=Backoff(max_attempts=max_attempts, base=backoff_base, cap=backoff_cap),
        )

        async def read(index: int, window: _Window) -> Topics:
            if len(windows) == 1:
                low, about, high = topic_target(duration)
                scope = f"Lecture length: {format_hms(duration)}."
            else:
                low, about, high = _window_target(window.end - window.start)
                scope = (
                    f"This is part {index + 1} of {len(windows)} of one lecture, from "
                    f"{format_hms(window.start)} to {format_hms(window.end)}; the summary "
                    "describes this part only."
                )
            user = (
                f"{scope} Find about {about} main topics (between {low} and {high}).\n\n"
                "Transcript:\n" + "\n".join(window.lines)
            )
            async with gate:
                found = await chat.topics(map_system, user)
            return _clamped(found, window.start, window.end)

        parts: list[Topics] = await _gather_all([read(i, w) for i, w in enumerate(windows)])
        if len(parts) == 1:
            return normalize(parts[0], duration)

        candidates = sorted(
            {t.start for p in parts for t in p.topics}
            | {s.start for p in parts for t in p.topics for s in t.subtopics}
        )
        low, about, high = topic_target(duration)
        outline = "\n\n".join(
            _outline(i + 1, len(parts), w, p)
            for i, (w, p) in enumerate(zip(windows, parts, strict=True))
        )
        user = (
            f"Lecture length: {format_hms(duration)}. Make about {about} main topics "
            f"(between {low} and {high}).\n\n{outline}"
        )
        reduce_system = _REDUCE_SYSTEM.format(shape=_SHAPE, language=language_name)
        try:
            final = _snapped(await chat.topics(reduce_system, user), candidates)
        except TopicsError as exc:
            if exc.code != INVALID_JSON:
                raise
            log.warning("reduce answer unusable (%s); merging the parts in order", exc.detail)
            return normalize(_merged(parts), duration)
    if not final.topics:
        log.warning("reduce answer had no topics; merging the parts in order")
        return normalize(_merged(parts), duration)
    if not final.summary.strip():
        final = final.model_copy(update={"summary": _joined_summary([p.summary for p in parts])})
    # Breaks are facts about pauses the windows saw; normalize merges the overlaps.
    breaks = [*final.breaks, *(b for p in parts for b in p.breaks)]
    return normalize(final.model_copy(update={"breaks": breaks}), duration)
