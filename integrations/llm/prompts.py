"""What the topics model is asked: the prompts, the windows of transcript, the outlines.

Rules it keeps:

- The transcript goes to the model as ``[HH:MM:SS] text`` lines on the published timeline,
  packed into windows of at most ``max_chars`` characters at line boundaries (a line longer
  than a window is cut), so a lecture of any length fits any context. The first window
  starts at 0 and each ends where the next begins; the last ends at the video's end.
- Every system prompt shows the one JSON shape the model must answer in (:data:`SHAPE`)
  and asks for titles and summaries in the transcript's language, named in English.
- A main topic is asked for about every :data:`SECONDS_PER_TOPIC` seconds: between
  :data:`MIN_TOPICS` and :data:`MAX_TOPICS` for the lecture, at least one per window. A
  granularity ("fewer", "more") scales that count by :data:`GRANULARITY_SCALE` within the
  same bounds and says in words which kind of chapters is wanted (:data:`GRANULARITY_ASK`).
- Key terms (names, course words), when a lecture has them, follow every system prompt as a
  list the model must spell titles and summaries by (:func:`terms_note`, at most
  :data:`TERMS_NOTE_CHARS` characters of them).
- The reduce request carries only the windows' results (summaries, topics with their
  times, breaks), never the transcript.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.timecodes import format_hms
from pipeline.topics import Topics
from pipeline.transcript import Transcript

# A main topic per this many seconds of lecture, within the bounds below.
SECONDS_PER_TOPIC = 8 * 60
MIN_TOPICS, MAX_TOPICS = 3, 20
# How many more main topics than usual each granularity asks for.
GRANULARITY_SCALE = {"fewer": 0.5, "normal": 1.0, "more": 2.0}
# What the request says besides the numbers, so the model knows why they changed.
GRANULARITY_ASK = {
    "fewer": "Make fewer, broader chapters: merge neighbouring topics into one.",
    "normal": "",
    "more": "Make more, finer chapters: split long topics into their parts.",
}

LANGUAGES = {
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

SHAPE = (
    '{"summary": "...", "topics": [{"start": "HH:MM:SS", "title": "...", '
    '"subtopics": [{"start": "HH:MM:SS", "title": "..."}]}], '
    '"breaks": [{"start": "HH:MM:SS", "end": "HH:MM:SS"}]}'
)

MAP_SYSTEM = """You turn a lecture transcript into a table of contents for video chapters.
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
- "summary": three to five sentences in {language} on what the lecture covers."""

REDUCE_SYSTEM = """You write the final table of contents of a lecture from the tables of contents
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
- "summary": three to five sentences in {language} on what the whole lecture covers."""


TERMS_NOTE_CHARS = 2000


def terms_note(terms: Sequence[str]) -> str:
    """The lines a system prompt ends with for the lecture's key terms; "" for none."""
    shown: list[str] = []
    size = 0
    for term in terms:
        size += len(term) + 2
        if size > TERMS_NOTE_CHARS:
            break
        shown.append(term)
    if not shown:
        return ""
    return (
        "\n\nKey terms of this lecture (names and course words). The transcript may misspell "
        "them; wherever one is meant, write it exactly as here:\n" + "; ".join(shown)
    )


def topic_target(seconds: float, granularity: str = "normal") -> tuple[int, int, int]:
    """(low, about, high) number of main topics for a stretch of lecture this long."""
    scale = GRANULARITY_SCALE.get(granularity, 1.0)
    about = round(max(seconds, 0.0) / SECONDS_PER_TOPIC * scale)
    about = min(MAX_TOPICS, max(MIN_TOPICS, about))
    return max(2, about - 2), about, about + 3


def window_target(seconds: float, granularity: str = "normal") -> tuple[int, int, int]:
    scale = GRANULARITY_SCALE.get(granularity, 1.0)
    about = max(1, round(max(seconds, 0.0) / SECONDS_PER_TOPIC * scale))
    return max(1, about - 1), about, about + 2


def granularity_ask(granularity: str) -> str:
    """The sentence a request adds for a granularity, with a leading space; "" for normal."""
    ask = GRANULARITY_ASK.get(granularity, "")
    return f" {ask}" if ask else ""


@dataclass(frozen=True)
class Window:
    start: float
    end: float
    lines: list[str]


def cut_windows(transcript: Transcript, duration: float, max_chars: int) -> list[Window]:
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
    cut: list[Window] = []
    for i, group in enumerate(groups):
        start = 0.0 if i == 0 else group[0][0]
        end = groups[i + 1][0][0] if i + 1 < len(groups) else duration
        cut.append(Window(start=start, end=max(start, end), lines=[line for _, line in group]))
    return cut


def language_name(language: str) -> str:
    code = language.split("-")[0].lower()
    return LANGUAGES.get(code, f"the language of the transcript (code {language!r})")


def outline(index: int, count: int, window: Window, part: Topics) -> str:
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


def map_request(
    index: int, windows: list[Window], duration: float, granularity: str = "normal"
) -> str:
    """The user message asking for the topics of window ``index``."""
    window = windows[index]
    if len(windows) == 1:
        low, about, high = topic_target(duration, granularity)
        scope = f"Lecture length: {format_hms(duration)}."
    else:
        low, about, high = window_target(window.end - window.start, granularity)
        scope = (
            f"This is part {index + 1} of {len(windows)} of one lecture, from "
            f"{format_hms(window.start)} to {format_hms(window.end)}; the summary "
            "describes this part only."
        )
    return (
        f"{scope} Find about {about} main topics (between {low} and {high})."
        f"{granularity_ask(granularity)}\n\n"
        "Transcript:\n" + "\n".join(window.lines)
    )


def reduce_request(
    duration: float, windows: list[Window], parts: list[Topics], granularity: str = "normal"
) -> str:
    """The user message asking for the lecture's topics from the windows' results."""
    low, about, high = topic_target(duration, granularity)
    outlines = "\n\n".join(
        outline(i + 1, len(parts), w, p)
        for i, (w, p) in enumerate(zip(windows, parts, strict=True))
    )
    return (
        f"Lecture length: {format_hms(duration)}. Make about {about} main topics "
        f"(between {low} and {high}).{granularity_ask(granularity)}\n\n{outlines}"
    )
