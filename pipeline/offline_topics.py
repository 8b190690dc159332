"""Topics without a language model: lexical-cohesion segmentation of the transcript.

The timeline is cut into short bins of words; at every bin edge the words of the
window before are compared with the words of the window after (cosine of
bag-of-words vectors). Where the vocabulary changes, similarity dips; the
deepest dips become topic boundaries (the TextTiling idea, on time instead of
token counts). Each topic is named by its most characteristic key phrase, as the lecturer
said it (`pipeline.offline_titles`). The summary is extractive: the opening sentence of each
of the first chapters, none for a recording under SUMMARY_MIN_SECONDS.

Words are compared by their Snowball stems, Russian or English by the word's own script, so
the forms of a word ("регуляризация", "регуляризации", "регуляризацию") count as one term;
function words and lecture fillers of both languages are left out (`pipeline.offline_words`).
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Sequence

import numpy as np

from pipeline.offline_titles import chapter_titles
from pipeline.offline_words import SENTENCE_SPLIT as _SENTENCE_SPLIT
from pipeline.offline_words import content_words as _content_words
from pipeline.offline_words import stem as _stem
from pipeline.topics import Break, Topic, Topics, normalize
from pipeline.transcript import Segment, Transcript

__all__ = ["extract_topics"]

# How many more topics than usual each granularity asks for; the fewest accepted stays.
GRANULARITY_SCALE = {"fewer": 0.5, "normal": 1.0, "more": 2.0}


def _target_count(duration: float, granularity: str = "normal") -> tuple[int, int]:
    """How many topics to aim for and the fewest to accept, for a recording this long."""
    scale = GRANULARITY_SCALE.get(granularity, 1.0)
    if duration >= 600:
        target = min(round(15 * scale), max(3, round(duration / 420 * scale)))
        return max(3, target), 3
    if duration >= 60:
        # About one topic per two minutes: a 5.7-minute talk in three parts gets three.
        return max(1, min(round(3 * scale), round(duration / 120 * scale))), 1
    return 1, 1


def _depths(similarity: np.ndarray, reach: int) -> np.ndarray:
    """How deep each point sits below the highest similarity within ``reach`` on both sides."""
    depths = np.zeros_like(similarity)
    n = len(similarity)
    for i in range(n):
        left = similarity[max(0, i - reach) : i + 1].max()
        right = similarity[i : min(n, i + reach + 1)].max()
        depths[i] = (left - similarity[i]) + (right - similarity[i])
    return depths


# A silence this long between two stretches of speech is a break in the talk, which is where
# a lecturer usually turns to the next subject (and where misheard words carry no signal).
_TOPIC_PAUSE = 15.0


def _longest_pause(
    pauses: Sequence[tuple[float, float]], time: float, reach: float
) -> tuple[float, float]:
    """The length and the end of the longest silence within ``reach`` seconds of ``time``
    ((0, ``time``) when there is none)."""
    return max(
        (
            (end - start, end)
            for start, end in pauses
            if start <= time + reach and end >= time - reach
        ),
        default=(0.0, time),
    )


def _boundaries(
    bins: np.ndarray,
    bin_seconds: float,
    duration: float,
    target: int,
    minimum: int,
    pauses: Sequence[tuple[float, float]] = (),
) -> list[float]:
    count = bins.shape[0]
    if target <= 1 or count < 4:
        return []
    window = max(2, round(max(30.0, min(240.0, duration / 15)) / bin_seconds))
    cumulative = np.vstack([np.zeros((1, bins.shape[1])), np.cumsum(bins, axis=0)])
    gaps = np.arange(1, count)
    left = cumulative[gaps] - cumulative[np.maximum(gaps - window, 0)]
    right = cumulative[np.minimum(gaps + window, count)] - cumulative[gaps]
    norms = np.linalg.norm(left, axis=1) * np.linalg.norm(right, axis=1)
    similarity = np.where(norms > 0, (left * right).sum(axis=1) / np.maximum(norms, 1e-12), 0.0)
    if len(similarity) >= 3:
        similarity = np.convolve(
            np.pad(similarity, 1, mode="edge"), np.array([0.25, 0.5, 0.25]), "valid"
        )
    depths = _depths(similarity, window)
    paused = np.array(
        [_longest_pause(pauses, float(g * bin_seconds), bin_seconds)[0] for g in gaps], dtype=float
    )
    # A long silence deepens the dip it falls in, and is a candidate of its own.
    depths = depths + 0.5 * np.minimum(paused / (2 * _TOPIC_PAUSE), 1.0)

    minima = [
        i
        for i in range(len(similarity))
        if (
            similarity[i] <= similarity[max(0, i - 1)]
            and similarity[i] <= similarity[min(len(similarity) - 1, i + 1)]
            and depths[i] > 0
        )
        or paused[i] >= _TOPIC_PAUSE
    ]
    if minima:
        values = depths[minima]
        cutoff = float(values.mean() - values.std() / 2)
    else:
        cutoff = 0.0
    min_separation = max(30.0, duration / (target * 2.5))

    chosen: list[float] = []

    def fits(time: float) -> bool:
        if time < min_separation or duration - time < min_separation:
            return False
        return all(abs(time - other) >= min_separation for other in chosen)

    # Half a minute of silence between two stretches of speech is the clearest sign of a new
    # part there is: it goes before any dip in the words, which misheard speech can make.
    long_pause = paused >= 2 * _TOPIC_PAUSE
    for i in sorted(minima, key=lambda i: (not long_pause[i], -depths[i])):
        if len(chosen) >= target - 1:
            break
        time = float(gaps[i] * bin_seconds)
        if long_pause[i]:
            # The new part starts where the silence ends, however long the silence was.
            time = _longest_pause(pauses, time, bin_seconds)[1]
        if (depths[i] >= cutoff or long_pause[i]) and fits(time):
            chosen.append(time)
    # Too few clear dips: add the weaker ones, then split the longest parts evenly.
    for i in sorted(minima, key=lambda i: -depths[i]):
        if len(chosen) >= minimum - 1:
            break
        time = float(gaps[i] * bin_seconds)
        if fits(time):
            chosen.append(time)
    while len(chosen) < minimum - 1:
        edges = sorted([0.0, *chosen, duration])
        start, end = max(itertools.pairwise(edges), key=lambda p: p[1] - p[0])
        middle = (start + end) / 2
        if end - start < 2 * 10.0:
            break
        chosen.append(middle)
    return sorted(chosen)


def _speech_start(segment: Segment) -> float:
    """When the segment's first word is heard: an engine may open a segment in the silence
    before it."""
    if segment.words:
        return max(segment.start, segment.words[0].start)
    return segment.start


def _snap(times: list[float], segments: Sequence[Segment], reach: float) -> list[float]:
    """Each boundary moved to the first words of a sentence: the one after the longest pause
    within ``reach`` seconds, nearer ones winning among pauses alike.

    The vocabulary changes somewhere inside a pause, but the similarity dip only says
    roughly where; the lecturer's own pause (a break, a breath before a new part) says
    exactly where the next topic begins.
    """
    ordered = sorted(segments, key=_speech_start)
    starts: list[tuple[float, float]] = []  # (first word, pause before it)
    previous_end = 0.0
    for segment in ordered:
        start = _speech_start(segment)
        if start > 0:
            starts.append((start, max(0.0, start - previous_end)))
        previous_end = max(previous_end, segment.end)
    if not starts:
        return times
    snapped: list[float] = []
    for time in times:
        near = [item for item in starts if abs(item[0] - time) <= reach]
        if near:
            best = max(near, key=lambda item: item[1] - abs(item[0] - time) / reach)[0]
            # Pauses within what a recogniser's timing blurs say nothing between them:
            # the sentences around them then go with the side whose words they share.
            top = max(pause for _, pause in near)
            alike = sorted(start for start, pause in near if pause >= top - _ALIKE_PAUSE)
            if len(alike) > 1:
                best = _by_words(alike, ordered, reach, best)
        else:
            best = min(starts, key=lambda item: abs(item[0] - time))[0]
        if best not in snapped:
            snapped.append(best)
    return sorted(snapped)


_ALIKE_PAUSE = 0.35
"""Seconds by which two pauses before sentences may differ and still count as alike."""


def _by_words(
    candidates: Sequence[float], ordered: Sequence[Segment], reach: float, fallback: float
) -> float:
    """Of sentence starts ``candidates`` (ascending), the one that leaves each sentence
    between the first and the last on the side it shares the most words with: the topic
    before the first candidate or the one after the last, ``reach`` seconds of each."""
    first, last = candidates[0], candidates[-1]

    def said(a: float, b: float) -> list[tuple[float, set[str]]]:
        return [(_speech_start(s), _stems_of(s)) for s in ordered if a <= _speech_start(s) < b]

    before = set().union(*(words for _, words in said(first - reach, first)))
    after = set().union(*(words for _, words in said(last, last + reach)))
    between = said(first, last)
    scores = {
        c: sum(len(words & (before if start < c else after)) for start, words in between)
        for c in candidates
    }
    top = max(scores.values())
    chosen = [c for c in candidates if scores[c] == top]
    return fallback if fallback in chosen else chosen[0]


def _stems_of(segment: Segment) -> set[str]:
    return {_stem(w) for w in _content_words(segment.text) if w is not None}


# The opening of a topic: its first sentences, said within this long after it begins.
_OPENING_SEGMENTS = 3
_OPENING_SECONDS = 40.0


def _first_sentences(text: str, count: int = 3) -> str:
    """The first ``count`` sentences of ``text`` that say something (three words or more)."""
    kept: list[str] = []
    said = 0
    for sentence in _SENTENCE_SPLIT.split(text):
        if said >= count:
            break
        kept.append(sentence)
        if len(sentence.split()) >= 3:
            said += 1
    return " ".join(kept)


def _opening_continues(opening: list[str], offset: float) -> bool:
    return len(opening) < _OPENING_SEGMENTS and offset <= _OPENING_SECONDS


# A recording shorter than this gets no summary: its opening is all there is to it.
SUMMARY_MIN_SECONDS = 120.0
_SUMMARY_SENTENCES = 5


def _summary(openings: Sequence[str], duration: float, max_chars: int = 600) -> str:
    """Extractive: the opening sentence of each of the first chapters (three of a lone one)."""
    if duration < SUMMARY_MIN_SECONDS:
        return ""
    per_chapter = 3 if len(openings) == 1 else 1
    chosen: list[str] = []
    length = 0
    for opening in openings:
        said = [s.strip() for s in _SENTENCE_SPLIT.split(opening) if len(s.split()) >= 4]
        for sentence in said[:per_chapter]:
            if chosen and length + len(sentence) + 1 > max_chars:
                return " ".join(chosen)
            chosen.append(sentence)
            length += len(sentence) + 1
        if len(chosen) >= _SUMMARY_SENTENCES:
            break
    summary = " ".join(chosen)
    if len(summary) > max_chars:
        summary = summary[: max_chars - 1].rsplit(" ", 1)[0] + "…"
    return summary


def _breaks(segments: Sequence[Segment], min_pause: float) -> list[Break]:
    ordered = sorted(segments, key=lambda s: s.start)
    return [
        Break(start=a.end, end=b.start)
        for a, b in itertools.pairwise(ordered)
        if b.start - a.end >= min_pause
    ]


def _fallback_title(segments: Sequence[Segment], start: float, end: float) -> str:
    for segment in segments:
        if start <= segment.start < end and segment.text:
            words = segment.text.split()[:6]
            return " ".join(words).rstrip(",.;:!?…")
    return ""


def extract_topics(
    transcript: Transcript,
    duration: float | None = None,
    min_pause: float = 180.0,
    granularity: str = "normal",
) -> Topics:
    """Topics with timecodes, titles and a summary for ``transcript``, without any service.

    ``duration`` is the video's length (the transcript's end when not given).
    Recordings over ten minutes get at least three topics; boundaries fall on
    segment starts. Pauses longer than ``min_pause`` seconds become breaks.
    ``granularity`` ("fewer", "normal", "more") halves or doubles the topics aimed for.
    """
    segments = [s for s in transcript.segments if s.text]
    if duration is None:
        duration = transcript.duration
    if not segments or duration <= 0:
        return normalize(Topics(), max(duration, 0.0))

    target, minimum = _target_count(duration, granularity)
    bin_seconds = max(5.0, min(30.0, duration / 120))
    count = max(1, math.ceil(duration / bin_seconds))

    bin_words: list[list[str]] = [[] for _ in range(count)]
    for word in transcript.words():
        index = min(count - 1, max(0, int(((word.start + word.end) / 2) / bin_seconds)))
        bin_words[index].extend(w for w in _content_words(word.word) if w is not None)
    frequency = Counter(_stem(w) for words in bin_words for w in words)
    vocabulary = {stem: i for i, stem in enumerate(s for s, c in frequency.items() if c >= 2)}
    matrix = np.zeros((count, max(1, len(vocabulary))), dtype=np.float32)
    for index, words in enumerate(bin_words):
        for word in words:
            column = vocabulary.get(_stem(word))
            if column is not None:
                matrix[index, column] += 1.0

    reach = max(2 * bin_seconds, 30.0)
    pauses = [
        (a.end, _speech_start(b))
        for a, b in itertools.pairwise(segments)
        if _speech_start(b) - a.end >= _TOPIC_PAUSE
    ]
    found = _boundaries(matrix, bin_seconds, duration, target, minimum, pauses)
    cuts = _snap(found, segments, reach)
    starts = [0.0, *cuts]
    ends = [*cuts, duration]
    parts: list[list[str]] = []
    openings: list[str] = []
    for start, end in zip(starts, ends, strict=True):
        said: list[str] = []
        opening: list[str] = []
        for segment in segments:
            if start <= _speech_start(segment) < end:
                said.append(segment.text)
                if _opening_continues(opening, _speech_start(segment) - start):
                    opening.append(segment.text)
        parts.append(said)
        openings.append(_first_sentences(" ".join(opening)))
    titles = chapter_titles(parts, openings)

    topics = [
        Topic(start=start, title=title or _fallback_title(segments, start, end))
        for start, end, title in zip(starts, ends, titles, strict=True)
    ]
    return normalize(
        Topics(
            summary=_summary(openings, duration), topics=topics, breaks=_breaks(segments, min_pause)
        ),
        duration,
    )
