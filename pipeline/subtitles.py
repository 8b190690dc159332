"""Subtitle cues from a transcript, written as SRT and WebVTT.

Rules this module keeps:
- Line length is counted in characters a reader sees (Unicode code points after NFC, combining
  marks not counted), never in bytes: a Cyrillic line holds as many letters as a Latin one.
- Lines and cues break only between words. Where a cue needs two lines, the break goes where
  it reads best: after punctuation (a comma, a dash), before a conjunction or preposition,
  with the two lines of similar width.
- A one-letter preposition or conjunction ("в", "к", "с", "о", "и", "а", "у", English "a")
  belongs to the word after it: it never ends a line or a cue while the next word follows.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace

from pipeline.transcript import Segment, Transcript, interpolate_words

_SENTENCE_END = re.compile(r"[.!?…。！？]['\")\]»”]*$")
# A line may end after a clause mark; a dash stays at the end of its line in Russian typesetting.
_CLAUSE_END = re.compile(r"(?:[,;:.!?…—–]['\")\]»”]*|\s[—–])$")
_DASHES = frozenset("—–-")
# Words that cling to the next one: a line or cue never ends on them.
_CLINGING = frozenset({"в", "к", "с", "о", "и", "а", "у", "a"})
# Words a new line may well start with: conjunctions and prepositions open a phrase.
_OPENERS = frozenset(
    """
    и а но или что чтобы если когда потому поэтому так как который которая которое которые
    где куда пока хотя либо ведь зато однако то есть в во на с со к ко по о об от до из за
    для без при про над под между через после перед у
    and but or that which who because so if when while where although though to of in on
    for with from by about into than as
    """.split()
)
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
    return [replace(t, text=unicodedata.normalize("NFC", t.text)) for t in _raw_tokens(segment)]


def _raw_tokens(segment: Segment) -> list[_Token]:
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


def width(text: str) -> int:
    """Characters a reader sees: combining marks (a decomposed "й") add nothing."""
    return sum(1 for char in text if not unicodedata.combining(char))


def _bare(text: str) -> str:
    return text.strip("\"'«»“”„()[]").casefold()


def _clings(text: str) -> bool:
    return _bare(text) in _CLINGING


def _break_cost(before: str, after: str) -> float:
    """How badly a line break between these two words reads, in characters of imbalance."""
    if _clings(before):
        return 1000.0
    cost = 0.0
    if _CLAUSE_END.search(before) or before in _DASHES:
        cost -= 10.0
    elif _bare(after) in _OPENERS:
        cost -= 5.0
    if after in _DASHES:
        # A dash opens the next line only in dialogue; it belongs after the word before it.
        cost += 8.0
    return cost


def _units(texts: list[str]) -> list[str]:
    """The words, each clinging word glued to the word after it (no line may part them)."""
    units: list[str] = []
    glue = False
    for text in texts:
        if glue:
            units[-1] += " " + text
        else:
            units.append(text)
        glue = _clings(text)
    return units


def _layout(texts: list[str], max_chars: int, max_lines: int) -> list[str] | None:
    """Lines for these words, or None when they do not fit."""
    texts = _units(texts)
    lines: list[str] = []
    for text in texts:
        if lines and width(lines[-1]) + 1 + width(text) <= max_chars:
            lines[-1] += " " + text
        else:
            lines.append(text)
    if len(lines) > max_lines:
        return None
    if len(lines) == 2 and len(texts) > 2:
        # Two lines of similar width read better than a full line and a stub; a break after
        # punctuation or before a conjunction reads better still.
        best: tuple[float, list[str]] | None = None
        for k in range(1, len(texts)):
            first, second = " ".join(texts[:k]), " ".join(texts[k:])
            if width(first) > max_chars or width(second) > max_chars:
                continue
            before, after = texts[k - 1].rsplit(" ", 1)[-1], texts[k].split(" ", 1)[0]
            cost = max(width(first), width(second)) + _break_cost(before, after)
            if best is None or cost < best[0]:
                best = (cost, [first, second])
        if best is not None:
            lines = best[1]
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
    tokens = [
        (token, index == 0)
        for segment in sorted(transcript.segments, key=lambda s: s.start)
        for index, token in enumerate(_segment_tokens(segment))
    ]
    current: list[_Token] = []
    for token, opens_segment in tokens:
        if current:
            texts = [t.text for t in current] + [token.text]
            full = _layout(texts, max_chars_per_line, max_lines) is None
            too_long = token.end - current[0].start > max_duration
            paused = token.start - current[-1].end > max_gap
            filled = sum(width(t.text) + 1 for t in current)
            sentence_done = (
                _SENTENCE_END.search(current[-1].text) is not None
                and filled >= max_chars_per_line * max_lines // 2
            )
            if opens_segment or full or too_long or paused or sentence_done:
                carried = _carry(current, full and not (too_long or paused or opens_segment))
                if carried and token.end - carried[0].start > max_duration:
                    carried = []  # so long a wait that the word cannot be held for the next
                groups.append(current[: len(current) - len(carried)])
                current = carried
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


def _carry(group: list[_Token], full: bool) -> list[_Token]:
    """The end of a closing cue that should open the next one instead.

    Clinging words always move on with the word they belong to; when the cue is cut only
    because it is full, a short tail after its last comma or dash moves on too, so the cue
    ends on a clause.
    """
    if len(group) < 2:
        return []
    clinging = 0
    while clinging < len(group) - 1 and _clings(group[-clinging - 1].text):
        clinging += 1
    if clinging:
        # "и в" move on together: each clings to the word after it.
        return group[-clinging:]
    if not full or _CLAUSE_END.search(group[-1].text):
        return []
    for back in range(1, min(3, len(group) - 1) + 1):
        before = group[-back - 1].text
        if _CLAUSE_END.search(before) or before in _DASHES:
            tail = group[-back:]
            return tail if sum(width(t.text) + 1 for t in tail) <= 20 else []
    return []


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
