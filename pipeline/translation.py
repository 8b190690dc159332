"""Subtitles in another language: cues read back, sent in batches, answers checked and fitted.

Rules this module keeps:

- A translation keeps every cue's time: cue N of the translation covers exactly the time of
  cue N of the original. Where the translated text does not fit one cue (two lines of 42
  characters a reader sees, at most 7 s), the original cue's time is shared by as few pieces
  as fit, in proportion to their length, each within the same limits; nothing moves to a
  neighbouring cue. Text without spaces (Chinese, Japanese) breaks anywhere.
- Cues go to the model in batches of at most ``size`` cues, each with the ``context`` cues
  before and after it (source text, marked as context only), so a sentence that runs over a
  batch's edge reads whole. Cue ids are the cues' numbers in the file (from 1).
- An answer is one JSON object ``{"cues": [{"id": n, "text": "..."}]}`` (a Markdown code fence
  around it is allowed). It is usable when it holds exactly the batch's ids, once each, every
  text said, written mostly in the target language's script, and not the source copied back;
  anything else raises :class:`Invalid`, whose message says what is wrong, because it goes
  back to the model for its one repair round.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.subtitles import Cue, width

MAX_CHARS = 42
MAX_LINES = 2
MAX_DURATION = 7.0
BATCH_SIZE = 40
CONTEXT = 3

# Most of a translation's letters must be in its language's script.
_SCRIPT_SHARE = 0.6
# Languages a translation is offered into; the first two are the usual pair.
TARGETS = ("en", "ru", "uk", "de", "fr", "es", "it", "pt", "pl", "tr", "zh", "ja", "ko", "ar")
# The scripts (the first word of a letter's Unicode name) each language is written in.
_SCRIPTS: dict[str, frozenset[str]] = {
    **dict.fromkeys(("ru", "uk", "be", "kk", "bg", "sr", "mk"), frozenset({"CYRILLIC"})),
    **dict.fromkeys(
        ("en", "de", "fr", "es", "it", "pt", "pl", "tr", "uz", "nl", "cs"), frozenset({"LATIN"})
    ),
    "zh": frozenset({"CJK"}),
    "ja": frozenset({"CJK", "HIRAGANA", "KATAKANA"}),
    "ko": frozenset({"HANGUL", "CJK"}),
    "ar": frozenset({"ARABIC"}),
}
_TIMING = re.compile(
    r"(\d+):(\d{1,2}):(\d{1,2})[,.](\d{1,3})\s*-->\s*(\d+):(\d{1,2}):(\d{1,2})[,.](\d{1,3})"
)
_CLAUSE_END = re.compile(r"[,;:.!?…—–]['\")\]»”]*$")
# Words that cling to the next one: a line never ends on them while another word follows.
_CLINGING = frozenset({"в", "к", "с", "о", "и", "а", "у", "a"})


class Invalid(ValueError):
    """The model's answer cannot be used; the message goes back to the model."""


def default_target(source: str) -> str:
    """The language a lecture's subtitles are most likely wanted in: Russian ↔ English."""
    return "ru" if source.split("-")[0].lower() == "en" else "en"


# --- reading subtitles back ------------------------------------------------------------------


def _seconds(h: str, m: str, s: str, ms: str) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms.ljust(3, "0")) / 1000


def parse_srt(text: str) -> list[Cue]:
    """The cues of an SRT (or WebVTT) file, in order; blocks without a timing line are skipped."""
    cues: list[Cue] = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n").strip()):
        lines = block.split("\n")
        for i, line in enumerate(lines):
            found = _TIMING.search(line)
            if found is None:
                continue
            parts = found.groups()
            start, end = _seconds(*parts[:4]), _seconds(*parts[4:])
            body = [t.strip() for t in lines[i + 1 :] if t.strip()]
            if body and end > start:
                cues.append(Cue(start, end, body))
            break
    return cues


def cue_text(cue: Cue) -> str:
    """A cue's words on one line, as the model reads them."""
    return " ".join(" ".join(cue.lines).split())


# --- batches -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Batch:
    """Cues ``first`` .. ``first + len(texts) - 1`` (indexes from 0) and their neighbours."""

    first: int
    texts: tuple[str, ...]
    before: tuple[str, ...]
    after: tuple[str, ...]

    @property
    def ids(self) -> list[int]:
        """The cues' numbers in the file, as the model sees them."""
        return list(range(self.first + 1, self.first + 1 + len(self.texts)))


def make_batches(
    texts: Sequence[str], size: int = BATCH_SIZE, context: int = CONTEXT
) -> list[Batch]:
    """Consecutive batches of at most ``size`` cues, each with ``context`` cues either side."""
    size, context = max(1, size), max(0, context)
    return [
        Batch(
            first=first,
            texts=tuple(texts[first : first + size]),
            before=tuple(texts[max(0, first - context) : first]),
            after=tuple(texts[first + size : first + size + context]),
        )
        for first in range(0, len(texts), size)
    ]


def request_json(batch: Batch, source_named: str, target_named: str) -> str:
    """What one request sends: the languages, the context, the cues by id."""
    return json.dumps(
        {
            "from": source_named,
            "to": target_named,
            "context_before": list(batch.before),
            "cues": [{"id": i, "text": t} for i, t in zip(batch.ids, batch.texts, strict=True)],
            "context_after": list(batch.after),
        },
        ensure_ascii=False,
    )


# --- answers -----------------------------------------------------------------------------------


def _strip_fences(content: str) -> str:
    text = content.strip()
    fenced = re.fullmatch(r"```(?:json|JSON)?\s*(.*?)\s*```", text, flags=re.DOTALL)
    return fenced.group(1) if fenced else text


def script_share(text: str, target: str) -> float | None:
    """The share of ``text``'s letters in ``target``'s script; None when that is not known."""
    scripts = _SCRIPTS.get(target.split("-")[0].lower())
    letters = [c for c in text if c.isalpha()]
    if scripts is None or not letters:
        return None
    ours = sum(1 for c in letters if unicodedata.name(c, "?").split(" ")[0] in scripts)
    return ours / len(letters)


def read_answer(content: str | None, batch: Batch, target: str, target_named: str) -> list[str]:
    """The batch's cues translated, in order; raises :class:`Invalid` saying what is wrong."""
    if content is None or not content.strip():
        raise Invalid("the reply was empty")
    try:
        data = json.loads(_strip_fences(content))
    except json.JSONDecodeError as exc:
        raise Invalid(f"the reply is not valid JSON ({exc})") from None
    items = data.get("cues") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise Invalid('the reply must be a JSON object with a "cues" list')
    ids = batch.ids
    if len(items) != len(ids):
        raise Invalid(
            f"expected {len(ids)} cues (ids {ids[0]} to {ids[-1]}), got {len(items)}; "
            "never merge, split, drop or add cues"
        )
    found: dict[int, str] = {}
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise Invalid(f'item {n} of "cues" is not an object')
        cue_id, text = item.get("id"), item.get("text")
        if isinstance(cue_id, str) and cue_id.strip().isdigit():
            cue_id = int(cue_id)
        if not isinstance(cue_id, int) or isinstance(cue_id, bool) or cue_id not in ids:
            raise Invalid(f"item {n} has id {cue_id!r}, not one of {ids[0]} to {ids[-1]}")
        if cue_id in found:
            raise Invalid(f"cue {cue_id} comes twice")
        if not isinstance(text, str) or not text.strip():
            raise Invalid(f'cue {cue_id} has no "text"')
        found[cue_id] = " ".join(text.split())
    texts = [found[i] for i in ids]
    _check_language(batch, texts, target, target_named)
    return texts


def _check_language(batch: Batch, texts: list[str], target: str, target_named: str) -> None:
    share = script_share(" ".join(texts), target)
    if share is not None and share < _SCRIPT_SHARE:
        raise Invalid(f"the text is not in {target_named}")
    copied = [
        i
        for i, source, text in zip(batch.ids, batch.texts, texts, strict=True)
        if text.casefold() == source.casefold() and sum(c.isalpha() for c in source) >= 12
    ]
    long_cues = sum(1 for s in batch.texts if sum(c.isalpha() for c in s) >= 12)
    for cue_id in copied:
        # A cue copied back in another script was not translated; in the same script it may
        # be a name or a formula, unless most of the batch came back the same.
        cue_share = script_share(texts[cue_id - batch.first - 1], target)
        if cue_share is not None and cue_share < 0.5:
            raise Invalid(f"cue {cue_id} was left untranslated; write it in {target_named}")
    if long_cues and len(copied) * 2 > long_cues:
        raise Invalid(f"the cues were copied, not translated into {target_named}")


# --- fitting the translation to the cues -------------------------------------------------------


def _units(words: list[str]) -> list[str]:
    """The words, each clinging word glued to the word after it."""
    units: list[str] = []
    glue = False
    for word in words:
        if glue:
            units[-1] += " " + word
        else:
            units.append(word)
        glue = word.strip("\"'«»“”(").casefold() in _CLINGING
    return units


def layout(
    words: Sequence[str], max_chars: int = MAX_CHARS, max_lines: int = MAX_LINES
) -> list[str] | None:
    """Lines for these words (two of similar width where two are needed), or None when they
    do not fit. A single word longer than a line gets a line of its own."""
    units = _units(list(words))
    lines: list[str] = []
    for unit in units:
        if lines and width(lines[-1]) + 1 + width(unit) <= max_chars:
            lines[-1] += " " + unit
        else:
            lines.append(unit)
    if len(lines) > max_lines:
        return None
    if len(lines) == 2 and len(units) > 2:
        best: tuple[float, list[str]] | None = None
        for k in range(1, len(units)):
            first, second = " ".join(units[:k]), " ".join(units[k:])
            if width(first) > max_chars or width(second) > max_chars:
                continue
            cost = max(width(first), width(second)) - (6 if _CLAUSE_END.search(units[k - 1]) else 0)
            if best is None or cost < best[0]:
                best = (cost, [first, second])
        if best is not None:
            lines = best[1]
    return lines


def _pieces(words: list[str], count: int, max_chars: int, max_lines: int) -> list[list[str]] | None:
    """``words`` in ``count`` consecutive pieces of similar length that each fit, or None."""
    if count > len(words):
        return None
    total = sum(width(w) + 1 for w in words)
    pieces: list[list[str]] = []
    start = 0
    for index in range(count):
        if index == count - 1:
            end = len(words)
        else:
            goal = total * (index + 1) / count
            end, run = start + 1, sum(width(w) + 1 for w in words[: start + 1])
            # Leave at least a word for each piece still to come.
            while (
                end < len(words) - (count - index - 1) and run + (width(words[end]) + 1) / 2 <= goal
            ):
                run += width(words[end]) + 1
                end += 1
        pieces.append(words[start:end])
        start = end
    if any(not p or layout(p, max_chars, max_lines) is None for p in pieces):
        return None
    return pieces


def _greedy(words: list[str], max_chars: int, max_lines: int) -> list[list[str]]:
    pieces: list[list[str]] = [[]]
    for word in words:
        if pieces[-1] and layout([*pieces[-1], word], max_chars, max_lines) is None:
            pieces.append([])
        pieces[-1].append(word)
    return pieces


def _chunks(word: str, max_chars: int) -> list[str]:
    """A "word" longer than a line (Chinese or Japanese run together, a long address) in
    pieces of a line each, so no line outgrows the limit."""
    if width(word) <= max_chars:
        return [word]
    return [word[i : i + max_chars] for i in range(0, len(word), max_chars)]


def fit_cue(
    cue: Cue,
    text: str,
    max_chars: int = MAX_CHARS,
    max_lines: int = MAX_LINES,
    max_duration: float = MAX_DURATION,
) -> list[Cue]:
    """``text`` on ``cue``'s time: one cue when it fits, else as few as fit, sharing the time."""
    words = [part for word in text.split() for part in _chunks(word, max_chars)]
    span = cue.end - cue.start
    if not words:
        return []
    count = max(1, math.ceil(span / max_duration))
    pieces: list[list[str]] | None = None
    while pieces is None and count <= len(words):
        pieces = _pieces(words, count, max_chars, max_lines)
        count += 1
    if pieces is None:
        pieces = _greedy(words, max_chars, max_lines)
    weights = [sum(width(w) + 1 for w in p) for p in pieces]
    total = sum(weights)
    times = [span * w / total for w in weights]
    if any(t > max_duration for t in times):
        # Length would give one piece too long a time: the pieces share it evenly instead.
        times = [span / len(pieces)] * len(pieces)
    cues: list[Cue] = []
    at = cue.start
    for n, (piece, seconds) in enumerate(zip(pieces, times, strict=True)):
        end = cue.end if n == len(pieces) - 1 else round(at + seconds, 3)
        lines = layout(piece, max_chars, max_lines) or [" ".join(piece)]
        cues.append(Cue(at, end, lines))
        at = end
    return cues


def fit_translation(
    cues: Sequence[Cue],
    texts: Sequence[str],
    max_chars: int = MAX_CHARS,
    max_lines: int = MAX_LINES,
    max_duration: float = MAX_DURATION,
) -> list[Cue]:
    """The translated cues on the original cues' times (see the module's rules)."""
    if len(cues) != len(texts):
        raise ValueError(f"{len(texts)} texts for {len(cues)} cues")
    fitted: list[Cue] = []
    for cue, text in zip(cues, texts, strict=True):
        fitted += fit_cue(cue, text, max_chars, max_lines, max_duration)
    return fitted
