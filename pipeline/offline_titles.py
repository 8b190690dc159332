"""Chapter titles without a language model: each chapter's most characteristic key phrase.

Rules it keeps:

- A title is words the lecturer said one after another in that chapter, never across a
  comma or a sentence end: two to six words (one only when the chapter holds no longer
  phrase), at most :data:`MAX_TITLE_CHARS` characters, the first letter a capital.
- A phrase opens and ends on a content word; inside it only joining words may stand ("and",
  "of the", "и", "для"), at most two of them, and in English an article only after a
  preposition ("error of the network", never "adjusts the weights").
- Phrases are compared by their Snowball stems, so "нейронная сеть" and "нейронной сети" are
  one phrase. Its score is how many different sentences of the chapter say it, times how
  characteristic its words are of this chapter against the others (frequent here, rare
  elsewhere), with a bonus for a phrase the chapter's opening says (the earlier, the more).
  Repeating one sentence does not make its every fragment a key phrase, and a phrase said
  only inside one longer phrase gives way to it ("индексы в базах" to "... базах данных").
- A title is a noun phrase, not a clause: a phrase with a Russian verb ending, a common
  English verb at an edge, or one followed by "the"/"a"/"all" (its object) counts for less,
  as does a Russian phrase opening on an oblique form or ending on an adjective.
- The phrase is shown as it was said, in the form said most often outside a preposition and,
  in Russian, preferring a nominative adjective at its head ("нейронные сети", never
  "нейронных сетей" when both were said); a word keeps a capital only where the chapter
  writes it so inside sentences more often than not (names, acronyms).
- No two chapters get the same title: a phrase already given goes to the next best.
- Deterministic: ties are broken by the phrase itself; the work is linear in the words.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

from pipeline.offline_words import (
    CLAUSE_SPLIT,
    CYRILLIC,
    MIN_WORD_CHARS,
    PREPOSITIONS,
    SENTENCE_SPLIT,
    WORD,
    is_stop,
    stem,
)

__all__ = ["MAX_TITLE_CHARS", "MAX_TITLE_WORDS", "chapter_titles"]

MAX_TITLE_CHARS = 60
MAX_TITLE_WORDS = 6
_MAX_JOINERS = 2
# Words that may join the content words of a noun phrase.
_JOINERS_EN = frozenset("and or of for in on with to by from into vs versus per".split())
_ARTICLES = frozenset("the a an".split())
_JOINERS_RU = frozenset(
    "и или в во на с со для от из к ко по без при о об до через под над между".split()
)
# Words that say how, not what: content words to the topic finder, never in a title.
_NOT_AT_EDGES = frozenset(
    """
    too probably often always never quite rather pretty still already usually simply exactly
    completely fairly almost around roughly really
    слишком из-за выше ниже примерно сразу целиком весьма довольно обычно действительно
    скорее вполне сильно быстро медленно легко трудно больше меньше лучше хуже
    """.split()
)
# Common English verbs that are rarely nouns: at a phrase's edge they make it a clause
# ("Americans ask", "time reaches").
_EN_VERBS = frozenset(
    """
    ask asks asked tell tells told give gives gave given take takes took taken show shows
    showed shown find finds found keep keeps kept put puts try tries tried turn turns turned
    call calls come comes came bring brings brought happen happens happened write writes
    wrote written include includes included explain explains explained reach reaches reached
    understand understands understood follow follows followed create creates created allow
    allows allowed add adds added remember remembers consider considers appear appears
    expect expects suggest suggests mean means meant become becomes became seem seems
    """.split()
)
# An English phrase followed by one of these ends on a verb ("regularization shrinks all the
# weights", "Adam adapts the learning rate"); a noun phrase is followed by its verb.
_DETERMINERS = frozenset(
    "the a an all every each many some several this these those its their our your".split()
)
# After these a Russian noun is in an oblique case; after the others it may look nominative
# ("про индексы").
_OBLIQUE_PREPOSITIONS = frozenset(
    "без для до из от у с со к ко по при о об обо над перед между".split()
)
# A Russian word with these endings is a verb ("уменьшает", "учатся", "различать"): the
# phrase is a clause.
_RU_VERB = re.compile(r"(?:ают|яют|уют|ает|яет|ует|аёт|ется|ются|ится|ятся|атся|ать|ить|ться)$")
# Oblique endings of a Russian adjective; a title does not open with one ("нейронных сетей").
_RU_OBLIQUE_ADJECTIVE = re.compile(r"(?:ого|его|ому|ему|ых|их|ым|им|ую|юю|ыми|ими)$")
# Oblique endings of a Russian plural noun ("индексов", "базах", "сетями").
_RU_OBLIQUE_PLURAL = re.compile(r"(?:ов|ев|ах|ях|ами|ями)$")
# An English word inside a phrase that ends like a verb ("index covers columns", "data
# sampled"): a noun there is singular, an adjective has no "-ed" after the head.
_EN_VERB = re.compile(r"^[a-z]+(?:[^isu]s|ed)$")
# A Russian adjective ends no title ("в том числе иностранным"): a noun phrase ends on its noun.
# Adjectives that name things ("базы данных", "виды животных") may end one.
_RU_ADJECTIVE_AT_END = re.compile(
    r"^(?!данн|учен|учён|животн|насеком|млекопитающ|позвоночн)"
    r".*(?:ого|его|ому|ему|ых|ым|ую|юю|ыми|ими|ая|яя|ый)$"
)
_RU_NOMINATIVE_ADJECTIVE = re.compile(r"(?:ый|ий|ая|яя|ое|ее|ые|ие)$")

# What a word may be in a phrase.
_CONTENT, _JOINER, _ARTICLE, _OTHER = range(4)


@lru_cache(maxsize=65536)
def _role(lower: str) -> tuple[int, str]:
    """What ``lower`` may be in a phrase, and what stands for it in the phrase's key: its stem
    for a content word, itself for another."""
    if len(lower) >= MIN_WORD_CHARS and not is_stop(lower) and lower not in _NOT_AT_EDGES:
        return _CONTENT, stem(lower)
    if lower in _ARTICLES:
        return _ARTICLE, lower
    if lower in _JOINERS_EN or lower in _JOINERS_RU:
        return _JOINER, lower
    return _OTHER, lower


class _Clause(NamedTuple):
    """The words of one clause: as spelled, lower-cased, their keys and roles; and whether
    the clause opens its sentence."""

    spelled: list[str]
    lower: list[str]
    keys: list[str]
    roles: list[int]
    opens: bool


def _clauses(text: str) -> list[_Clause]:
    result: list[_Clause] = []
    for sentence in SENTENCE_SPLIT.split(text):
        opens = True
        for clause in CLAUSE_SPLIT.split(sentence):
            spelled = WORD.findall(clause)
            if not spelled:
                continue
            lower = [w.casefold() for w in spelled]
            roles = [_role(w) for w in lower]
            result.append(
                _Clause(spelled, lower, [r[1] for r in roles], [r[0] for r in roles], opens)
            )
            opens = False
    return result


def _spans(roles: list[int], lower: list[str], shortest: int = 2) -> list[tuple[int, int]]:
    """Every [start, end) of a phrase of at least ``shortest`` words in a clause: content
    words at both ends, joining words between."""
    spans: list[tuple[int, int]] = []
    count = len(roles)
    for i in range(count):
        if roles[i] != _CONTENT:
            continue
        if shortest < 2:
            spans.append((i, i + 1))
        joiners = 0
        for j in range(i + 1, min(count, i + MAX_TITLE_WORDS)):
            role = roles[j]
            if role == _CONTENT:
                spans.append((i, j + 1))
                continue
            if role == _OTHER or (role == _ARTICLE and lower[j - 1] not in _JOINERS_EN):
                break
            joiners += 1
            if joiners > _MAX_JOINERS:
                break
    return spans


@dataclass
class _Chapter:
    """What the titles are chosen from: a chapter's phrases (by key) with the sentences that
    say them and the forms they were said in, its content stems, and the capitals its words
    had inside sentences."""

    sentences: dict[tuple[str, ...], set[int]] = field(default_factory=dict)
    content: dict[tuple[str, ...], tuple[str, ...]] = field(default_factory=dict)
    forms: dict[tuple[str, ...], dict[tuple[str, ...], int]] = field(default_factory=dict)
    inner: dict[tuple[str, ...], tuple[tuple[str, ...], ...]] = field(default_factory=dict)
    after_preposition: Counter[tuple[str, ...]] = field(default_factory=Counter)
    after_oblique: Counter[tuple[str, ...]] = field(default_factory=Counter)
    before_object: Counter[tuple[str, ...]] = field(default_factory=Counter)
    stems: Counter[str] = field(default_factory=Counter)
    capitals: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    inside: Counter[str] = field(default_factory=Counter)
    """How often each word was said inside a sentence (not opening it), in any letter case."""


def _register(
    chapter: _Chapter, key: tuple[str, ...], clause: _Clause, start: int
) -> tuple[set[int], dict[tuple[str, ...], int]]:
    keys, roles = clause.keys, clause.roles
    end = start + len(key)
    at = [k for k in range(start, end) if roles[k] == _CONTENT]
    chapter.content[key] = tuple(keys[k] for k in at)
    if len(at) > 1:
        # The phrase without its last content word, and without its first.
        chapter.inner[key] = (tuple(keys[start : at[-2] + 1]), tuple(keys[at[1] : end]))
    entry: tuple[set[int], dict[tuple[str, ...], int]] = (set(), {})
    chapter.sentences[key], chapter.forms[key] = entry
    return entry


def _read(texts: Sequence[str], shortest: int = 2) -> _Chapter:
    """The chapter's phrases of at least ``shortest`` words."""
    chapter = _Chapter()
    ids: dict[tuple[str, ...], int] = {}
    seen: dict[tuple[str, ...], tuple[set[int], dict[tuple[str, ...], int]]] = {}
    # Counted once at the end: a Counter's update has a cost of its own per call.
    inside: list[str] = []
    content: list[str] = []
    for text in texts:
        for clause in _clauses(text):
            lower, keys, roles = clause.lower, clause.keys, clause.roles
            sentence = ids.setdefault(tuple(lower), len(ids))
            for k, spelled in enumerate(clause.spelled):
                # A capital inside a sentence is a name's; at its start it says nothing.
                if spelled != lower[k] and (k or not clause.opens or spelled.isupper()):
                    chapter.capitals[lower[k]][spelled] += 1
            inside.extend(lower[1:] if clause.opens else lower)
            content.extend(key for key, role in zip(keys, roles, strict=True) if role == _CONTENT)
            for start, end in _spans(roles, lower, shortest):
                key = tuple(keys[start:end])
                entry = seen.get(key)
                if entry is None:
                    entry = seen[key] = _register(chapter, key, clause, start)
                entry[0].add(sentence)
                form = tuple(lower[start:end])
                said = entry[1]
                said[form] = said.get(form, 0) + 1
                if end < len(lower) and lower[end] in _DETERMINERS:
                    chapter.before_object[form] += 1
                if start and lower[start - 1] in PREPOSITIONS:
                    chapter.after_preposition[form] += 1
                    if lower[start - 1] in _OBLIQUE_PREPOSITIONS:
                        chapter.after_oblique[form] += 1
    chapter.inside.update(inside)
    chapter.stems.update(content)
    return chapter


def _opening_order(opening: str) -> dict[tuple[str, ...], int]:
    """How many words of the opening come before each of its phrases."""
    order: dict[tuple[str, ...], int] = {}
    before = 0
    for clause in _clauses(opening):
        for start, end in _spans(clause.roles, clause.lower, 1):
            order.setdefault(tuple(clause.keys[start:end]), before + start)
        before += len(clause.keys)
    return order


def _readable(
    form: tuple[str, ...], said: int, after: int, after_oblique: int, before_object: int = 0
) -> float:
    """How well ``form`` reads as a title as it is: 1 for a noun phrase, less for a form said
    only after a preposition (in Russian, an oblique case), one that opens on an oblique form
    or ends on an adjective, and a clause: a verb in it, or (in English) an object after it."""
    value = 0.5 if after_oblique >= said else 0.85 if after >= said else 1.0
    head = form[0]
    if CYRILLIC.search(head):
        if _RU_OBLIQUE_ADJECTIVE.search(head):
            value *= 0.4
        elif _RU_OBLIQUE_PLURAL.search(head):
            value *= 0.6
        elif head.endswith(("ой", "ей")):
            value *= 0.8
        if any(_RU_VERB.search(w) for w in form):
            value *= 0.5
        if len(form) > 1 and _RU_ADJECTIVE_AT_END.search(form[-1]):
            value *= 0.5
    elif any(_EN_VERB.search(w) for w in form[1:-1]) or form[-1].endswith("ed"):
        value *= 0.5
    elif len(form) > 1 and 2 * before_object > said:
        value *= 0.5
    if form[0] in _EN_VERBS or form[-1] in _EN_VERBS:
        value *= 0.5
    return value


def _best_form(chapter: _Chapter, key: tuple[str, ...]) -> tuple[tuple[str, ...], float]:
    """The form of a phrase a title shows, and how well it reads."""
    forms = chapter.forms[key]
    after, oblique = chapter.after_preposition, chapter.after_oblique
    verbs = chapter.before_object

    def rank(form: tuple[str, ...]) -> tuple[float, bool, int, int]:
        return (
            _readable(form, forms[form], after[form], oblique[form], verbs[form]),
            bool(_RU_NOMINATIVE_ADJECTIVE.search(form[0])),
            forms[form] - after[form],
            forms[form],
        )

    form = max(sorted(forms), key=rank)
    return form, rank(form)[0]


def _shown(form: tuple[str, ...], chapter: _Chapter) -> str:
    words = []
    for word in form:
        seen = chapter.capitals.get(word)
        # A name is written with its capital more often than without ("Americans"); a
        # capital the recogniser gave a common word once ("Green Plants") is not kept.
        if seen and 2 * sum(seen.values()) > chapter.inside[word]:
            word = max(sorted(seen), key=lambda s: seen[s])
        words.append(word)
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def _choose(
    chapter: _Chapter,
    bounds: list[tuple[float, tuple[str, ...]]],
    taken: set[str | tuple[str, ...]],
) -> tuple[str, tuple[str, ...]] | None:
    """The best phrase not taken yet. ``bounds`` holds each phrase's score, negated, before
    the penalty for how its form reads (at most 1): a phrase whose bound is below the best
    score found cannot win, so only the first few are looked at closely."""
    best: tuple[float, str, tuple[str, ...]] | None = None
    for negative, key in sorted(bounds):
        bound = -negative
        if best is not None and bound < best[0]:
            break
        if key in taken:
            continue
        form, readable = _best_form(chapter, key)
        shown = _shown(form, chapter)
        if len(shown) > MAX_TITLE_CHARS or shown.casefold() in taken:
            continue
        score = bound * readable
        if best is None or (score, best[1]) > (best[0], shown):
            best = (score, shown, key)
    return (best[1], best[2]) if best else None


def chapter_titles(chapters: Sequence[Sequence[str]], openings: Sequence[str]) -> list[str]:
    """A title for each chapter, given the texts said in it and its opening sentences; ""
    for a chapter with no content word."""
    read = [_read(texts) for texts in chapters]
    spread = Counter(s for chapter in read for s in chapter.stems)
    total = len(chapters)

    titles: list[str] = []
    taken: set[str | tuple[str, ...]] = set()
    for texts, chapter, opening in zip(chapters, read, openings, strict=True):
        weights = {
            s: c * (math.log((total + 1) / spread[s]) if total > 1 else 1.0)
            for s, c in chapter.stems.items()
        }
        said_first = _opening_order(opening)
        # Phrases of two words or more; a lone word only when the chapter says none (the
        # chapter is read again for its words then: seldom, and only in a short chapter).
        chosen = _choose(chapter, _bounds(chapter, weights, spread, total, said_first), taken)
        if chosen is None:
            words = _read(texts, shortest=1)
            chosen = _choose(words, _bounds(words, weights, spread, total, said_first), taken)
        if chosen is None:
            titles.append("")
            continue
        taken.update({chosen[0].casefold(), chosen[1]})
        titles.append(chosen[0])
    return titles


def _bounds(
    chapter: _Chapter,
    weights: dict[str, float],
    spread: Counter[str],
    total: int,
    said_first: dict[tuple[str, ...], int],
) -> list[tuple[float, tuple[str, ...]]]:
    """Each phrase of ``chapter`` with its score (negated) before how its form reads."""
    top = max(weights.values(), default=0.0) or 1.0
    # A phrase said only as part of a longer one ("индексы в базах" of "индексы в базах
    # данных") is a fragment of it.
    fragments = {
        inner
        for key, pair in chapter.inner.items()
        if len(chapter.sentences[key]) > 1
        for inner in pair
        if len(chapter.sentences.get(inner, ())) == len(chapter.sentences[key])
    }
    bounds: list[tuple[float, tuple[str, ...]]] = []
    for key, sentences in chapter.sentences.items():
        content = chapter.content[key]
        if key in fragments or len(set(content)) < len(content):
            continue  # "layer to layer" names no topic
        mean = sum(weights[s] for s in content) / (top * len(content))
        score = len(sentences) * mean * (1.0 + 0.1 * (len(content) - 1))
        if total > 4:
            # A word every one of many chapters says ("relates", "changes") is the
            # lecture's phrasing: at a phrase's edge it names no topic.
            score *= 0.5 ** sum(spread[s] == total for s in {content[0], content[-1]})
        if key in said_first:
            score *= 1.0 + 0.5 / (1.0 + 0.1 * said_first[key])
        bounds.append((-score, key))
    return bounds
