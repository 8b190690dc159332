"""A gate against made-up transcripts: loops, impossible rates, speech in silence, text in
another language than the speech.

It only flags; it never removes text. Whether a stretch was really spoken is decided by
acoustic evidence in the engine (the voice-activity model's speech probability under each
segment), never by the same words coming up again elsewhere: a lecturer who repeats a
paragraph keeps every repetition.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from pipeline.timecodes import format_hms
from pipeline.transcript import Transcript, Word

__all__ = ["Flag", "check_transcript"]

_MAX_FLAGS_PER_CODE = 5
_MAX_PERIOD = 40
_MIN_REPEATS = 4
_MIN_REPEATED_WORDS = 12
_WINDOW = 120.0
_WINDOW_STEP = 60.0
_MIN_SPEECH_IN_WINDOW = 90.0
_MIN_SPEECH_OVERALL = 60.0
_MIN_FOREIGN_SECONDS = 5.0
_MIN_FOREIGN_SHARE = 0.1
_TOKEN = re.compile(r"[^\w']+")


@dataclass(frozen=True, slots=True)
class Flag:
    """One reason to distrust a transcript. ``code`` is a stable key; ``detail`` is for logs."""

    code: str
    detail: str
    start: float | None = None


class _Span(Protocol):
    @property
    def start(self) -> float: ...

    @property
    def end(self) -> float: ...


def _intervals(
    spans: Iterable[tuple[float, float] | _Span], duration: float
) -> list[tuple[float, float]]:
    raw: list[tuple[float, float]] = []
    for span in spans:
        start, end = span if isinstance(span, tuple) else (span.start, span.end)
        start, end = max(0.0, float(start)), min(duration, float(end))
        if end > start:
            raw.append((start, end))
    merged: list[tuple[float, float]] = []
    for start, end in sorted(raw):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _overlap(start: float, end: float, intervals: list[tuple[float, float]]) -> float:
    return sum(max(0.0, min(end, b) - max(start, a)) for a, b in intervals)


def _repeated_phrases(words: list[Word]) -> list[Flag]:
    tokens = [(_TOKEN.sub("", w.word.casefold()), w.start) for w in words]
    tokens = [(t, start) for t, start in tokens if t]
    if len(tokens) < _MIN_REPEATED_WORDS:
        return []
    ids_by_token: dict[str, int] = {}
    ids = np.array([ids_by_token.setdefault(t, len(ids_by_token)) for t, _ in tokens])
    reported: list[tuple[int, int]] = []
    flags: list[Flag] = []
    for period in range(1, min(_MAX_PERIOD, len(ids) // _MIN_REPEATS) + 1):
        same = np.concatenate([[False], ids[:-period] == ids[period:], [False]])
        edges = np.flatnonzero(np.diff(same.astype(np.int8)))
        for run_start, run_end in zip(edges[::2], edges[1::2], strict=True):
            span = int(run_end - run_start) + period
            repeats = span // period
            if repeats < _MIN_REPEATS or span < _MIN_REPEATED_WORDS:
                continue
            first, last = int(run_start), int(run_start) + span
            # A loop of period p also repeats with period 2p; report it once.
            if any(first < b and a < last for a, b in reported):
                continue
            reported.append((first, last))
            phrase = " ".join(t for t, _ in tokens[first : first + period])
            start = tokens[first][1]
            flags.append(
                Flag(
                    "repeated_phrases",
                    f'"{phrase[:80]}" repeated {repeats} times at {format_hms(start)}',
                    start,
                )
            )
    flags.sort(key=lambda f: f.start or 0.0)
    return flags[:_MAX_FLAGS_PER_CODE]


def _implausible_rates(
    words: list[Word],
    duration: float,
    silence: list[tuple[float, float]],
    min_wpm: float,
    max_wpm: float,
) -> list[Flag]:
    flags: list[Flag] = []
    speech = duration - sum(b - a for a, b in silence)
    if speech >= _MIN_SPEECH_OVERALL:
        rate = len(words) / (speech / 60.0)
        if rate < min_wpm or rate > max_wpm:
            flags.append(
                Flag("implausible_wpm", f"{rate:.0f} words per minute over the whole recording")
            )
    if duration < _WINDOW:
        return flags

    middles = np.sort(np.array([(w.start + w.end) / 2 for w in words], dtype=float))
    # Within a window, a rate far above normal speech means invented text; one far
    # below means the engine skipped a stretch someone was talking in.
    stretch_kind: str | None = None
    start = 0.0
    while start + _WINDOW <= duration + _WINDOW_STEP / 2:
        end = min(duration, start + _WINDOW)
        spoken = (end - start) - _overlap(start, end, silence)
        kind: str | None = None
        rate = 0.0
        if spoken >= _MIN_SPEECH_IN_WINDOW:
            count = int(np.searchsorted(middles, end) - np.searchsorted(middles, start))
            rate = count / (spoken / 60.0)
            if rate > max_wpm:
                kind = "high"
            elif rate < min_wpm / 4:
                kind = "low"
        if kind is not None and kind != stretch_kind:
            flags.append(
                Flag(
                    "implausible_wpm",
                    f"{rate:.0f} words per minute from {format_hms(start)}",
                    start,
                )
            )
        stretch_kind = kind
        start += _WINDOW_STEP
    return flags[:_MAX_FLAGS_PER_CODE]


def _text_in_silence(transcript: Transcript, silence: list[tuple[float, float]]) -> list[Flag]:
    flags: list[Flag] = []
    for segment in transcript.segments:
        if not segment.text:
            continue
        length = segment.end - segment.start
        if length <= 0:
            inside = any(a < segment.start < b for a, b in silence)
        else:
            covered = _overlap(segment.start, segment.end, silence)
            inside = covered >= 0.5 and covered >= 0.8 * length
        if inside:
            flags.append(
                Flag(
                    "text_in_silence",
                    f'"{segment.text[:80]}" at {format_hms(segment.start)} lies in silence',
                    segment.start,
                )
            )
            if len(flags) >= _MAX_FLAGS_PER_CODE:
                break
    return flags


def _wrong_language(transcript: Transcript) -> list[Flag]:
    """Speech the engine heard in a language the transcript has no text in."""
    heard = transcript.detected or {}
    total = sum(heard.values())
    written = set(transcript.languages()) | {transcript.language}
    flags: list[Flag] = []
    for language, seconds in sorted(heard.items(), key=lambda item: -item[1]):
        if language in written:
            continue
        if seconds >= _MIN_FOREIGN_SECONDS and seconds >= _MIN_FOREIGN_SHARE * total:
            flags.append(
                Flag(
                    "wrong_language",
                    f"{seconds:.0f} s of speech in {language!r}, but the text is in "
                    f"{transcript.language!r}",
                )
            )
    return flags


def check_transcript(
    transcript: Transcript,
    duration: float,
    silent_intervals: Iterable[tuple[float, float] | _Span] = (),
    min_wpm: float = 40.0,
    max_wpm: float = 250.0,
) -> list[Flag]:
    """Reasons to distrust ``transcript`` of a recording ``duration`` seconds long.

    Codes: "empty" (nothing recognised; no other checks then), "repeated_phrases"
    (the same words looping, a classic Whisper failure), "implausible_wpm" (a
    speaking rate outside ``min_wpm``..``max_wpm`` overall, or far outside it over
    a two-minute stretch), "text_in_silence" (segments inside intervals the media
    analysis found silent), "wrong_language" (the engine heard a stretch of speech in a
    language the transcript has no text in: an explicit language that does not match the
    recording). A clean transcript gives [].
    """
    words = transcript.words()
    if not words:
        return [Flag("empty", "no speech was recognised"), *_wrong_language(transcript)]
    duration = max(duration, transcript.duration)
    silence = _intervals(silent_intervals, duration)
    return [
        *_repeated_phrases(words),
        *_implausible_rates(words, duration, silence, min_wpm, max_wpm),
        *_text_in_silence(transcript, silence),
        *_wrong_language(transcript),
    ]
