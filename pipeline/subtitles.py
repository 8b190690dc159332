"""Subtitle cues from a transcript, written as SRT and WebVTT."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from pipeline.transcript import Segment, Transcript, interpolate_words

_SENTENCE_END = re.compile(r"[.!?…。！？]['\")\]»”]*$")
# Below a millisecond a cue cannot be written at all.
_TICK = 0.001


@dataclass(frozen=True, slots=True)
class Cue:
    start: float
    end: float
    lines: list[str]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass(frozen=True, slots=True)
class _Token:
    start: float
    end: float
    text: str


def _split_spaced(start: float, end: float, text: str) -> list[_Token]:
    parts = text.split()
    if len(parts) <= 1:
        return [_Token(start, max(start, end), parts[0])] if parts else []
    # A token with inner spaces becomes several words sharing its time by length.
    total = sum(len(p) + 1 for p in parts)
    tokens: list[_Token] = []
    position = 0
    for part in parts:
        a = start + (end - start) * position / total
        position += len(part) + 1
        b = start + (end - start) * position / total
        tokens.append(_Token(a, b, part))
    return tokens


def _segment_tokens(segment: Segment) -> list[_Token]:
    words = [w for w in segment.words or [] if w.word.strip()]
    if not words:
        words = interpolate_words(segment)
        return [_Token(w.start, w.end, w.word) for w in words]
    text_parts = segment.text.split()
    if len(text_parts) == len(words):
        # Some engines strip punctuation from words; the segment text keeps it.
        return [
            _Token(w.start, max(w.start, w.end), part)
            for w, part in zip(words, text_parts, strict=True)
        ]
    tokens: list[_Token] = []
    for w in words:
        tokens.extend(_split_spaced(w.start, w.end, w.word))
    return tokens


def _layout(texts: list[str], max_chars: int, max_lines: int) -> list[str] | None:
    """Lines for these words, or None when they do not fit."""
    lines: list[str] = []
    for text in texts:
        if lines and len(lines[-1]) + 1 + len(text) <= max_chars:
            lines[-1] += " " + text
        else:
            lines.append(text)
    if len(lines) > max_lines:
        return None
    if len(lines) == 2 and len(texts) > 2:
        # Two lines of similar width read better than a full line and a stub.
        best = lines
        for k in range(1, len(texts)):
            first, second = " ".join(texts[:k]), " ".join(texts[k:])
            if len(first) > max_chars or len(second) > max_chars:
                continue
            if max(len(first), len(second)) < max(len(best[0]), len(best[1])):
                best = [first, second]
        lines = best
    return lines


def build_cues(
    transcript: Transcript,
    max_chars_per_line: int = 42,
    max_lines: int = 2,
    max_duration: float = 7.0,
    min_duration: float = 1.0,
    max_gap: float = 1.5,
    duration: float | None = None,
) -> list[Cue]:
    """Cut the transcript into cues a viewer can read.

    Each cue has at most ``max_lines`` lines of at most ``max_chars_per_line``
    characters (a single longer word gets a line of its own) and lasts at most
    ``max_duration`` seconds. Word times are used when the transcript has them,
    otherwise times are spread over each segment by length. Every word ends up in
    exactly one cue; cues never overlap; a short cue is held up to
    ``min_duration`` seconds when the next one leaves room.

    With ``duration`` (the video's length) no cue ends after the video does, and
    words the engine placed at or past its end are dropped.
    """
    groups: list[list[_Token]] = []
    # Cue order is word order: overlapping segments push later cues back instead of
    # interleaving their words.
    for segment in sorted(transcript.segments, key=lambda s: s.start):
        current: list[_Token] = []
        for token in _segment_tokens(segment):
            if current:
                texts = [t.text for t in current] + [token.text]
                full = _layout(texts, max_chars_per_line, max_lines) is None
                too_long = token.end - current[0].start > max_duration
                paused = token.start - current[-1].end > max_gap
                filled = sum(len(t.text) + 1 for t in current)
                sentence_done = (
                    _SENTENCE_END.search(current[-1].text) is not None
                    and filled >= max_chars_per_line * max_lines // 2
                )
                if full or too_long or paused or sentence_done:
                    groups.append(current)
                    current = []
            current.append(token)
        if current:
            groups.append(current)

    cues: list[Cue] = []
    for group in groups:
        start = group[0].start
        end = min(max(t.end for t in group), start + max_duration)
        texts = [t.text for t in group]
        # A group always fits: it was closed before the word that would overflow it.
        lines = _layout(texts, max_chars_per_line, max_lines) or [" ".join(texts)]
        cues.append(Cue(start, end, lines))
    return _settle(cues, min_duration, max_duration, duration)


def _settle(
    cues: list[Cue], min_duration: float, max_duration: float, duration: float | None
) -> list[Cue]:
    """Remove overlaps and too-short cues without moving any cue's words elsewhere."""
    settled: list[Cue] = []
    for cue in cues:
        start, end = max(cue.start, 0.0), cue.end
        if settled:
            previous = settled[-1]
            if start < previous.end:
                if start - previous.start >= _TICK:
                    settled[-1] = replace(previous, end=start)
                else:
                    start = previous.end
        end = min(max(end, start + _TICK), start + max_duration)
        settled.append(Cue(start, end, cue.lines))

    if duration is not None:
        # A cue that would start within the last tick could not be shown for any time:
        # players drop it, or show it over the end frame of the video.
        settled = [cue for cue in settled if cue.start <= duration - _TICK]
    result: list[Cue] = []
    for i, cue in enumerate(settled):
        end = cue.end
        if end - cue.start < min_duration:
            limit = settled[i + 1].start if i + 1 < len(settled) else cue.start + min_duration
            end = max(end, min(cue.start + min_duration, limit))
        if duration is not None:
            end = min(end, duration)
        result.append(replace(cue, end=end))
    return result


def _timestamp(seconds: float, separator: str) -> str:
    millis = round(max(0.0, seconds) * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _safe_line(line: str) -> str:
    # "-->" inside text would be read as a new timing line by players.
    return line.replace("-->", "→").strip()


def to_srt(cues: list[Cue]) -> str:
    blocks = []
    for number, cue in enumerate(cues, 1):
        text = "\n".join(_safe_line(line) for line in cue.lines)
        timing = f"{_timestamp(cue.start, ',')} --> {_timestamp(cue.end, ',')}"
        blocks.append(f"{number}\n{timing}\n{text}\n")
    return "\n".join(blocks)


def _vtt_escape(line: str) -> str:
    return _safe_line(line).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(cues: list[Cue]) -> str:
    blocks = ["WEBVTT\n"]
    for cue in cues:
        text = "\n".join(_vtt_escape(line) for line in cue.lines)
        blocks.append(f"{_timestamp(cue.start, '.')} --> {_timestamp(cue.end, '.')}\n{text}\n")
    return "\n".join(blocks)
