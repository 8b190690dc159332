"""Key terms: a short vocabulary of names and course words a lecture is likely to use.

A workspace keeps one list and each template another; a recording is heard with both (the
workspace's first). The same list is the speech engine's prompt, the language model's
spelling guide, and a clue for the transcript's quality gate.

Rules it keeps:

- A list is typed as terms separated by commas, semicolons or new lines. Spaces inside a
  term are kept (collapsed to one), quotes and stray punctuation around it are dropped, and
  a term given twice (in any letter case) counts once, in the spelling given first.
- At most :data:`MAX_TERMS` terms of at most :data:`MAX_TERM_CHARS` characters each: a
  longer list is refused with the reason (:class:`TermsError`), never cut in silence. Lists
  read back from storage are forgiving instead: what breaks the rules is left out.
- Merging lists keeps the first spelling and stops at :data:`MAX_TERMS`.
- Echo: a transcript segment whose words are mostly the vocabulary's own words
  (:data:`ECHO_SHARE`) is what Whisper writes when it repeats its prompt over silence or
  music. Such a segment is only suspicious: whether someone said it is for the acoustic
  evidence to decide (the engine's voice-activity frames, the trim stage's silences), so a
  lecturer who says "Dijkstra." on its own keeps it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from pipeline.quality import Flag
from pipeline.timecodes import format_hms
from pipeline.transcript import Transcript

__all__ = [
    "ECHO_SHARE",
    "MAX_TERMS",
    "MAX_TERM_CHARS",
    "TermsError",
    "clean_terms",
    "echo_flags",
    "echo_share",
    "merged",
    "parse_terms",
    "term_words",
]

MAX_TERMS = 100
MAX_TERM_CHARS = 60
ECHO_SHARE = 0.6
"""A segment with at least this share of its words from the vocabulary may be an echo."""
_ECHO_IN_SILENCE = 0.5
"""An echo-like segment is flagged when at least this share of it lies in silence."""
_MAX_ECHO_FLAGS = 5

_SEPARATORS = re.compile(r"[,;\n\r]+")
_QUOTES = " \t\"'`«»“”„‘’()[]{}<>"
# A sentence's end after the last term; a leading dot is a name's own (".NET").
_ENDS = ".:!?"
_WORD = re.compile(r"\w+", re.UNICODE)

TOO_MANY = "too_many"
TOO_LONG = "too_long"


class TermsError(ValueError):
    """A typed list that breaks a rule: ``code`` is "too_many" or "too_long"; ``term`` is the
    offending term for "too_long", and ``count`` how many terms were given."""

    def __init__(self, code: str, *, term: str = "", count: int = 0) -> None:
        super().__init__(code)
        self.code, self.term, self.count = code, term, count

    def __str__(self) -> str:
        if self.code == TOO_LONG:
            return f"term {self.term[:40]!r} is longer than {MAX_TERM_CHARS} characters"
        return f"{self.count} terms; at most {MAX_TERMS}"


def _clean(raw: str) -> str:
    term = " ".join(raw.split()).strip(_QUOTES)
    return term.rstrip(_ENDS).strip(_QUOTES)


def _unique(terms: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    kept: list[str] = []
    for term in terms:
        key = term.casefold()
        if term and key not in seen:
            seen.add(key)
            kept.append(term)
    return kept


def parse_terms(text: str) -> list[str]:
    """The terms a person typed; raises :class:`TermsError` for a list that breaks a rule.

    "-" (or nothing) is the empty list."""
    if text.strip() in ("", "-", "—"):
        return []
    terms = _unique(_clean(part) for part in _SEPARATORS.split(text))
    for term in terms:
        if len(term) > MAX_TERM_CHARS:
            raise TermsError(TOO_LONG, term=term, count=len(terms))
    if len(terms) > MAX_TERMS:
        raise TermsError(TOO_MANY, count=len(terms))
    return terms


def clean_terms(values: object) -> list[str]:
    """A stored list, with whatever breaks the rules left out (never raises)."""
    if not isinstance(values, list | tuple):
        return []
    terms = (_clean(v) for v in values if isinstance(v, str))
    return [t for t in _unique(terms) if len(t) <= MAX_TERM_CHARS][:MAX_TERMS]


def merged(*lists: Sequence[str]) -> list[str]:
    """The lists joined in order, each term once, at most :data:`MAX_TERMS`."""
    return clean_terms([term for terms in lists for term in terms])


def term_words(terms: Iterable[str]) -> frozenset[str]:
    """The vocabulary's words, letter case ignored."""
    return frozenset(w.casefold() for term in terms for w in _WORD.findall(term))


def echo_share(text: str, words: frozenset[str]) -> float:
    """The share of ``text``'s words that are vocabulary words (0 for a text without words)."""
    found = [w.casefold() for w in _WORD.findall(text)]
    if not found or not words:
        return 0.0
    return sum(1 for w in found if w in words) / len(found)


def _overlap(start: float, end: float, spans: Sequence[tuple[float, float]]) -> float:
    return sum(max(0.0, min(end, b) - max(start, a)) for a, b in spans)


def echo_flags(
    transcript: Transcript, terms: Sequence[str], silences: Sequence[tuple[float, float]]
) -> list[Flag]:
    """ "vocabulary_echo" flags: segments made mostly of the vocabulary lying mostly in the
    silences the trim stage found (an engine repeating its prompt where nobody spoke)."""
    words = term_words(terms)
    if not words or not silences:
        return []
    flags: list[Flag] = []
    for segment in transcript.segments:
        if echo_share(segment.text, words) < ECHO_SHARE:
            continue
        length = segment.end - segment.start
        if length <= 0:
            quiet = any(a <= segment.start <= b for a, b in silences)
        else:
            quiet = _overlap(segment.start, segment.end, silences) >= _ECHO_IN_SILENCE * length
        if quiet:
            flags.append(
                Flag(
                    "vocabulary_echo",
                    f'"{segment.text[:80]}" at {format_hms(segment.start)} repeats the key '
                    "terms where the recording is silent",
                    segment.start,
                )
            )
            if len(flags) >= _MAX_ECHO_FLAGS:
                break
    return flags
