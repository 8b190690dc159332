"""The transcript model (transcript.json) and the operations on it that every engine shares."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from pipeline.timecodes import format_hms

_SENTENCE_END = re.compile(r"[.!?…。！？]['\")\]»”]*$")
_PUNCTUATION_ONLY = re.compile(r"^[^\w\s]+$")


class Word(BaseModel):
    """One recognised word with its times on the video's timeline."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    start: float
    end: float
    word: str
    probability: float | None = None

    @model_validator(mode="after")
    def _end_not_before_start(self) -> Word:
        # Engines occasionally report end < start by a few ms; keep the model usable.
        if self.end < self.start:
            object.__setattr__(self, "end", self.start)
        return self

    @model_serializer(mode="wrap")
    def _omit_missing_probability(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if data.get("probability") is None:
            data.pop("probability", None)
        return data

    def shifted(self, offset: float) -> Word:
        return self.model_copy(
            update={"start": max(0.0, self.start + offset), "end": max(0.0, self.end + offset)}
        )


class Segment(BaseModel):
    """A sentence-like piece of the transcript; ``words`` only when the engine gave them.

    ``language`` is set only in a transcript that holds more than one language (a Russian
    lecture with an English quote): then every segment says which one it is in.
    """

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    start: float
    end: float
    text: str
    words: list[Word] | None = None
    language: str | None = None

    @field_validator("text")
    @classmethod
    def _strip_text(cls, value: str) -> str:
        return value.strip()

    @model_validator(mode="after")
    def _end_not_before_start(self) -> Segment:
        if self.end < self.start:
            object.__setattr__(self, "end", self.start)
        return self

    @model_serializer(mode="wrap")
    def _omit_missing_words(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for key in ("words", "language"):
            if data.get(key) is None:
                data.pop(key, None)
        return data

    @property
    def duration(self) -> float:
        return self.end - self.start

    def shifted(self, offset: float) -> Segment:
        words = None if self.words is None else [w.shifted(offset) for w in self.words]
        return self.model_copy(
            update={
                "start": max(0.0, self.start + offset),
                "end": max(0.0, self.end + offset),
                "words": words,
            }
        )


class Transcript(BaseModel):
    """What transcript.json holds: the language and the segments on the video's timeline.

    ``language`` is the main language, the one most of the speech is in (by duration);
    segments in another one carry their own ``language``.
    """

    model_config = ConfigDict(frozen=True)

    language: str
    segments: list[Segment]
    detected: dict[str, float] | None = None
    """Seconds of speech the engine heard in each language, when it listened for that:
    the evidence for "the speech is not in the transcript's language"."""

    @model_serializer(mode="wrap")
    def _omit_missing_detected(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if data.get("detected") is None:
            data.pop("detected", None)
        return data

    def text(self) -> str:
        """All segment texts joined by single spaces."""
        return " ".join(s.text for s in self.segments if s.text)

    def words(self) -> list[Word]:
        """Every word with times: the engine's own when present, else spread over the segment."""
        result: list[Word] = []
        for segment in self.segments:
            if segment.words:
                result.extend(w for w in segment.words if w.word.strip())
            else:
                result.extend(interpolate_words(segment))
        return result

    @property
    def duration(self) -> float:
        return max((s.end for s in self.segments), default=0.0)

    def languages(self) -> dict[str, float]:
        """Seconds of recognised speech per language, the main language first."""
        return speech_by_language(self.segments, self.language)

    def shifted(self, offset: float) -> Transcript:
        """The same transcript moved by ``offset`` seconds (times never go below zero)."""
        return self.model_copy(update={"segments": [s.shifted(offset) for s in self.segments]})

    @classmethod
    def merge(cls, chunks: Sequence[tuple[float, Transcript]]) -> Transcript:
        return merge(chunks)

    def sentences(self, max_words: int = 40) -> list[tuple[float, str]]:
        """``(start, text)`` per sentence: segments split at sentence ends by their word times.

        Engines often run several sentences (even subjects) into one segment; the start of
        each sentence is what a reader of timecodes needs.
        """
        found: list[tuple[float, str]] = []
        for segment in self.segments:
            if not segment.text:
                continue
            if not segment.words:
                found.append((segment.start, segment.text))
                continue
            current: list[Word] = []
            for word in segment.words:
                current.append(word)
                if word.word.strip().endswith(_SENTENCE_ENDS) or len(current) >= max_words:
                    found.append((current[0].start, join_words(current)))
                    current = []
            if current:
                found.append((current[0].start, join_words(current)))
        return [(start, text) for start, text in found if text]

    def to_timecoded_lines(self) -> list[str]:
        """``[HH:MM:SS] text`` per sentence, the form topic extraction reads."""
        return [f"[{format_hms(start)}] {text}" for start, text in self.sentences()]

    def dump_json(self) -> str:
        return self.model_dump_json(indent=2)

    @classmethod
    def load_json(cls, path: str | Path) -> Transcript:
        return cls.model_validate_json(Path(path).read_text(encoding="utf-8"))


_SENTENCE_ENDS = (".", "?", "!", "…", "。")


def _normalised(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.casefold()))


def _clip_words(words: list[Word] | None, end: float) -> list[Word] | None:
    if words is None:
        return None
    return [w if w.end <= end else w.model_copy(update={"end": max(w.start, end)}) for w in words]


def merge(chunks: Sequence[tuple[float, Transcript]]) -> Transcript:
    """Join transcripts of consecutive chunks, each given with its offset on the whole timeline.

    Segments are moved by their chunk's offset and sorted. Where chunks overlap, a
    segment that repeats the text of the one before it is dropped, and otherwise
    the earlier segment is cut where the later one starts, so no two overlap.

    The merged language is the one most of the speech is in, by duration; when the
    chunks were heard in more than one language, every segment names its own.
    """
    moved: list[Segment] = []
    for offset, transcript in chunks:
        for segment in transcript.segments:
            if segment.language is None and transcript.language:
                segment = segment.model_copy(update={"language": transcript.language})
            moved.append(segment.shifted(offset))
    moved.sort(key=lambda s: (s.start, s.end))

    merged: list[Segment] = []
    for segment in moved:
        if not merged or segment.start >= merged[-1].end:
            merged.append(segment)
            continue
        previous = merged[-1]
        if _normalised(segment.text) == _normalised(previous.text):
            # The same words heard twice in the overlap of two chunks.
            if segment.end > previous.end:
                merged[-1] = previous.model_copy(update={"end": segment.end})
            continue
        if segment.start > previous.start:
            merged[-1] = previous.model_copy(
                update={"end": segment.start, "words": _clip_words(previous.words, segment.start)}
            )
            merged.append(segment)
        else:
            # Both start together: the later one begins when the earlier ends.
            start = previous.end
            words = segment.words
            if words is not None:
                words = [
                    w
                    if w.start >= start
                    else w.model_copy(update={"start": start, "end": max(start, w.end)})
                    for w in words
                ]
            merged.append(
                segment.model_copy(
                    update={"start": start, "end": max(start, segment.end), "words": words}
                )
            )

    fallback = next((t.language for _, t in chunks if t.language), "")
    return labelled(merged, fallback)


def speech_by_language(segments: Iterable[Segment], default: str = "") -> dict[str, float]:
    """Seconds of text-bearing segments per language (``default`` for unlabelled ones),
    largest first; ties go to the language heard first."""
    seconds: Counter[str] = Counter()
    for segment in segments:
        language = segment.language or default
        if segment.text and language:
            # A zero-length segment still counts a little, so a language is never lost.
            seconds[language] += max(segment.end - segment.start, 1e-3)
    return dict(sorted(seconds.items(), key=lambda item: -item[1]))


def labelled(segments: list[Segment], fallback: str = "") -> Transcript:
    """A transcript of ``segments`` (each may name its language): the main language by
    speech duration, and segment languages kept only when there is more than one.

    A segment whose words leave a pause of more than ``MAX_WORD_GAP`` between them is split
    there: the engines run one segment across a long silence (a last word said after a
    break), which would put a subtitle on screen through the silence and read as text over
    it.
    """
    segments = [part for segment in segments for part in split_at_pauses(segment)]
    by_language = speech_by_language(segments, fallback)
    language = next(iter(by_language), fallback)
    if len(by_language) > 1:
        segments = [
            s if s.language else s.model_copy(update={"language": language}) for s in segments
        ]
    else:
        segments = [
            s if s.language is None else s.model_copy(update={"language": None}) for s in segments
        ]
    return Transcript(language=language, segments=segments)


MAX_WORD_GAP = 2.0
"""Seconds between two words of one segment beyond which they belong to two segments."""


def split_at_pauses(segment: Segment, max_gap: float = MAX_WORD_GAP) -> list[Segment]:
    """``segment`` in pieces at the pauses between its words; as it is without word times."""
    words = [w for w in segment.words or [] if w.word.strip()]
    if len(words) < 2:
        return [segment]
    pieces: list[list[Word]] = [[words[0]]]
    for word in words[1:]:
        if word.start - pieces[-1][-1].end > max_gap:
            pieces.append([])
        pieces[-1].append(word)
    if len(pieces) == 1:
        return [segment]
    return [
        segment.model_copy(
            update={
                "start": piece[0].start if i else segment.start,
                "end": segment.end if i == len(pieces) - 1 else piece[-1].end,
                "text": join_words(piece),
                "words": piece,
            }
        )
        for i, piece in enumerate(pieces)
    ]


def join_words(words: Iterable[Word]) -> str:
    """Text of consecutive words, whether the engine put spaces inside the tokens or not."""
    tokens = [w.word for w in words]
    if not tokens:
        return ""
    # Whisper-style tokens carry their own leading space; API-style words are bare.
    if any(t[:1].isspace() for t in tokens[1:]):
        return " ".join("".join(tokens).split())
    parts: list[str] = []
    for token in (t.strip() for t in tokens):
        if not token:
            continue
        if parts and _PUNCTUATION_ONLY.match(token):
            parts[-1] += token
        else:
            parts.append(token)
    return " ".join(parts)


def segments_from_words(
    words: Sequence[Word],
    max_gap: float = 1.0,
    max_len: float = 20.0,
    max_chars: int = 300,
    min_chars: int = 0,
    run_on: float = 0.5,
) -> list[Segment]:
    """Group bare words into sentence-like segments.

    A segment ends after a word that ends a sentence, before a pause longer than
    ``max_gap`` seconds, or before it would last longer than ``max_len`` seconds
    or grow past ``max_chars`` characters. A sentence shorter than ``min_chars``
    characters that the next word follows within ``run_on`` seconds goes on into the
    next one ("Welcome, everyone! Today…"), as Whisper's own segments do.
    """
    ordered = sorted((w for w in words if w.word.strip()), key=lambda w: (w.start, w.end))
    segments: list[Segment] = []
    current: list[Word] = []
    chars = 0
    sentence_ended = False

    def flush() -> None:
        nonlocal chars
        if current:
            segments.append(
                Segment(
                    start=current[0].start,
                    end=max(w.end for w in current),
                    text=join_words(current),
                    words=list(current),
                )
            )
            current.clear()
        chars = 0

    for word in ordered:
        if current:
            previous = current[-1]
            gap = word.start - previous.end
            too_long = word.end - current[0].start > max_len
            too_wide = chars + 1 + len(word.word.strip()) > max_chars
            closed = sentence_ended and (chars >= min_chars or gap > run_on)
            if closed or gap > max_gap or too_long or too_wide:
                flush()
        current.append(word)
        chars += len(word.word.strip()) + (1 if chars else 0)
        sentence_ended = _SENTENCE_END.search(word.word.strip()) is not None
    flush()
    return segments


def interpolate_words(segment: Segment) -> list[Word]:
    """Words of a segment without word times, spread over it in proportion to their length."""
    tokens = segment.text.split()
    if not tokens:
        return []
    # Count the space after each token so short words still get some time.
    weights = [len(t) + 1 for t in tokens]
    total = sum(weights)
    span = segment.end - segment.start
    result: list[Word] = []
    position = 0
    for token, weight in zip(tokens, weights, strict=True):
        start = segment.start + span * position / total
        position += weight
        end = segment.start + span * position / total
        result.append(Word(start=start, end=end, word=token))
    if result and not math.isclose(result[-1].end, segment.end):
        result[-1] = result[-1].model_copy(update={"end": segment.end})
    return result
