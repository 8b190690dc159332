"""Topics without a language model: lexical-cohesion segmentation of the transcript.

The timeline is cut into short bins of words; at every bin edge the words of the
window before are compared with the words of the window after (cosine of
bag-of-words vectors). Where the vocabulary changes, similarity dips; the
deepest dips become topic boundaries (the TextTiling idea, on time instead of
token counts). Each topic is named after the words and word pairs that are
frequent in it and rare elsewhere. The summary is extractive: the opening sentence of each
of the first chapters, none for a recording under SUMMARY_MIN_SECONDS.

Words are compared by their Snowball stems, Russian or English by the word's own script, so
the forms of a word ("регуляризация", "регуляризации", "регуляризацию") count as one term;
function words and lecture fillers of both languages are left out. Titles are made of the
lecture's own words as they were spoken: a word pair is shown in the form the lecturer said
it most often, so its words agree ("нейронные сети", never "нейронных сеть").
"""

from __future__ import annotations

import itertools
import math
import re
import threading
from collections import Counter, defaultdict
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import snowballstemmer

from pipeline.topics import Break, Topic, Topics, normalize
from pipeline.transcript import Segment, Transcript

__all__ = ["extract_topics"]

_STOP_WORDS = frozenset(
    """
    a about above after again against all also am an and any are aren as at be because been
    before being below between both but by can cannot could couldn did didn do does doesn doing
    don down during each else even ever every few for from further get gets getting go goes going
    gonna got had hadn has hasn have haven having he her here hers herself him himself his how
    however i if in into is isn it its itself just know let like ll look lot make many may maybe
    me might more most much must my myself need no nor not now of off okay on once one only or
    other ought our ours ourselves out over own really right said same say says see she should
    shouldn so some something such than that thats the their theirs them themselves then there
    these they thing things think this those though through thus to today too under until up us
    use used using very want was wasn way we well were weren what when where whether which while
    who whom why will with within without won would wouldn yeah yes yet you your yours yourself
    yourselves ve re let's also actually basically kind sort mean going okay two three first
    second next last talk talked talking lets gets let us look looked looking called
    hello hi welcome everyone everybody guys folks morning afternoon evening
    """.split()
)
# Russian function words and lecture fillers, in the forms speech uses them.
_STOP_WORDS_RU = frozenset(
    """
    а без более больше бы был была были было быть в вам вами вас весь во вот все всё всего
    всей всем всеми всех всю вся вы где да даже для до его ее её если есть еще ещё же за здесь
    и из или им ими их к как какая какие каким какой каком какую когда кто ли либо меня мне
    мной может можем можете могут мог могла могли мы на над надо наш наша наше наши нам нас
    нами не него нее неё нет ни них но ну о об однако он она они оно от очень по под при про
    раз с сам сама сами само себе себя со так также такая такие таким такой такое там те тем
    теми то того тоже той только том тот ту ты у уже хотя чего чей чем что чтобы чье чья эта
    эти это этого этой этом этому этот эту этим этими я вообще значит просто например сейчас
    потом тут тогда вроде допустим давайте можно нужно нужен нужна нужны будет будем будут
    буду будете являются является являться который которая которые которое которых которой
    котором которым которую которыми этих сегодня теперь итак поговорим поговорить говорить
    говорим говорят говорил сказать скажем скажу рассмотрим рассмотреть посмотрим посмотреть
    смотрите видите видим знаете знаем понимаете хочу хотим хотите хорошо ладно именно
    поэтому потому почему зачем куда откуда где-то что-то кто-то как-то какой-то также
    один одна одно одни одного одной два две три первый первая первое второй вторая третий
    каждый каждая каждое каждого другой другая другие другое других много мало несколько
    пример примеры примере случае случай раза разе почти совсем
    всегда никогда иногда часто снова опять ещё уже лишь между через после перед около
    вокруг против кроме вместо ради среди свой своя свое своё свои своих своим своей своего
    мой моя моё мои твой наш ваш ваша ваше ваши делать делаем сделать
    здравствуйте привет приветствую коллеги друзья
    """.split()
)
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
_CLAUSE_SPLIT = re.compile(r"[,;:.!?…()\[\]\"«»]|\s[-–—]\s")
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?…])\s+")
_CYRILLIC = re.compile(r"[а-яё]")
_MIN_WORD_CHARS = 3
_STEMMERS = threading.local()


def _stemmer(language: str) -> Any:
    # Snowball stemmers keep their word in the object: one per thread and language.
    found = getattr(_STEMMERS, language, None)
    if found is None:
        found = snowballstemmer.stemmer(language)
        setattr(_STEMMERS, language, found)
    return found


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    """The word's stem by the Snowball rules of its script.

    "регуляризация", "регуляризации" and "регуляризацию" share one stem, as do "network" and
    "networks"; a lecture that mixes Russian and English terms is stemmed word by word.
    """
    if _CYRILLIC.search(word):
        return str(_stemmer("russian").stemWord(word.replace("ё", "е")))
    if word.isascii():
        return str(_stemmer("english").stemWord(word))
    return word


def _is_stop(word: str) -> bool:
    return word in _STOP_WORDS or word in _STOP_WORDS_RU or word.replace("ё", "е") in _STOP_WORDS_RU


def _content_words(text: str) -> list[str | None]:
    """Lower-cased content words; None marks a stop word so word pairs do not bridge it."""
    result: list[str | None] = []
    for clause in _CLAUSE_SPLIT.split(text.casefold()):
        for word in _WORD.findall(clause):
            if len(word) < _MIN_WORD_CHARS or _is_stop(word):
                result.append(None)
            else:
                result.append(word)
        # A pair never spans a comma or a sentence end: "растений, хлорофилл" is no phrase.
        result.append(None)
    return result[:-1]


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


def _pause_around(pauses: Sequence[tuple[float, float]], time: float, reach: float) -> float:
    """The longest silence that lies within ``reach`` seconds of ``time``."""
    return max(
        (end - start for start, end in pauses if start <= time + reach and end >= time - reach),
        default=0.0,
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
        [_pause_around(pauses, float(g * bin_seconds), bin_seconds) for g in gaps], dtype=float
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

    for i in sorted(minima, key=lambda i: -depths[i]):
        if len(chosen) >= target - 1:
            break
        time = float(gaps[i] * bin_seconds)
        if depths[i] >= cutoff and fits(time):
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
        else:
            best = min(starts, key=lambda item: abs(item[0] - time))[0]
        if best not in snapped:
            snapped.append(best)
    return sorted(snapped)


# After these a Russian noun is never in the form a title names it by ("о регуляризации").
_PREPOSITIONS = frozenset(
    "в во на о об обо при без для до из от у с со к ко по за под над перед через про между".split()
)


def _governed(text: str) -> Counter[str]:
    """Forms said right after a preposition: inflected, so a title avoids them."""
    words = _WORD.findall(text.casefold())
    return Counter(b for a, b in itertools.pairwise(words) if a in _PREPOSITIONS)


def _surface_forms(words: Sequence[str | None], governed: Counter[str]) -> dict[str, str]:
    forms: dict[str, Counter[str]] = defaultdict(Counter)
    for word in words:
        if word is not None:
            forms[_stem(word)][word] += 1
    # The form said most often on its own (as a subject, say), then the most frequent.
    return {
        stem: max(counter, key=lambda form: (counter[form] - governed[form], counter[form]))
        for stem, counter in forms.items()
    }


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


def _said_at(text: str) -> dict[tuple[str, ...], int]:
    """How many content words of ``text`` come before each stem and each adjacent pair is
    first said."""
    words = _content_words(text)
    found: dict[tuple[str, ...], int] = {}
    before = 0
    for i, word in enumerate(words):
        if word is None:
            continue
        found.setdefault((_stem(word),), before)
        following = words[i + 1] if i + 1 < len(words) else None
        if following is not None and _stem(following) != _stem(word):
            found.setdefault((_stem(word), _stem(following)), before)
        before += 1
    return found


# The endings of a Russian adjective in the nominative: a pair opened by one is a noun
# phrase as a title names it ("нейронные сети", "градиентный спуск"); a pair opened by a
# verb or a noun in another case ("поглощает свет", "листьях растений") reads as a fragment.
_NOMINATIVE_ADJECTIVE = re.compile(r"(?:ый|ий|ой|ая|яя|ое|ее|ые|ие)$")


def _nameable(form: str, governed: Counter[str]) -> bool:
    """Whether ``form`` (a word or a pair as said) can be a title as it is: in Russian, a
    word said only after prepositions is in an oblique case, and a pair must open with an
    adjective in the nominative."""
    words = form.split()
    if not _CYRILLIC.search(words[0]):
        return True
    if len(words) == 2:
        return governed[words[0]] == 0 and bool(_NOMINATIVE_ADJECTIVE.search(words[0]))
    return True


def _form_of(
    stems: tuple[str, ...],
    said: dict[tuple[str, str], Counter[str]],
    forms: dict[str, str],
    governed: Counter[str],
) -> str:
    """A word or pair of a title in the form the lecturer said it."""
    if len(stems) == 2:
        variants = said[(stems[0], stems[1])]
        # A form that reads as a title (in Russian, the nominative), then the one said most
        # often, not right after a preposition where Russian inflects it.
        return max(
            variants,
            key=lambda form: (
                _nameable(form, governed),
                variants[form] - governed[form.split()[0]],
                variants[form],
            ),
        )
    return forms[stems[0]]


def _titles(
    parts: list[list[str | None]], governed: list[Counter[str]], openings: list[str]
) -> list[str]:
    """A title for each part: one noun phrase the lecturer said as the part opened.

    Words and word pairs are scored by how frequent they are in the part and rare in the
    others; the best one the opening sentences say is the title, a pair preferred when it
    holds that word ("carbon dioxide" over "dioxide"), the best of the part when the opening
    says none. The phrase keeps the lecturer's own forms: a pair as it was said, a word in
    the form said most often outside a preposition, which in Russian is the nominative
    ("регуляризация", not "о регуляризации").
    """
    unigram_counts = [Counter(_stem(w) for w in part if w is not None) for part in parts]
    bigram_counts: list[Counter[tuple[str, str]]] = []
    # Each pair as it was said: its words keep the agreement of the lecturer's own phrase.
    pair_forms: list[dict[tuple[str, str], Counter[str]]] = []
    for part in parts:
        pairs: Counter[tuple[str, str]] = Counter()
        said: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        for a, b in itertools.pairwise(part):
            if a is not None and b is not None and _stem(a) != _stem(b):
                pairs[(_stem(a), _stem(b))] += 1
                said[(_stem(a), _stem(b))][f"{a} {b}"] += 1
        bigram_counts.append(pairs)
        pair_forms.append(said)
    unigram_df = Counter(stem for counts in unigram_counts for stem in counts)
    bigram_df = Counter(pair for counts in bigram_counts for pair in counts)
    n = len(parts)

    def weight(df: int) -> float:
        return math.log((n + 1) / df) if n > 1 else 1.0

    titles: list[str] = []
    taken: set[tuple[str, ...]] = set()
    for part, unigrams, bigrams, said, after, opening in zip(
        parts, unigram_counts, bigram_counts, pair_forms, governed, openings, strict=True
    ):
        forms = _surface_forms(part, after)
        at = _said_at(opening)

        def topical(pair: tuple[str, ...]) -> bool:
            # A pair holding a word every part says ("confuse debugging") is the lecture's
            # phrasing, not this topic's name.
            return n == 1 or max(unigram_df[stem] for stem in pair) < n

        scored: list[tuple[float, tuple[str, ...]]] = []
        for pair, count in bigrams.items():
            # What the opening says is a candidate even when said once: a short part may
            # name its topic only there.
            if (count >= 2 or pair in at) and topical(pair):
                scored.append((1.5 * count * weight(bigram_df[pair]), pair))
        for stem, count in unigrams.items():
            if count >= 2 or len(unigrams) < 10 or (stem,) in at:
                scored.append((count * weight(unigram_df[stem]), (stem,)))
        scored.sort(key=lambda item: (-item[0], item[1]))
        if not scored:
            titles.append("")
            continue

        # What the opening says, the earlier the likelier it names the topic.
        opening_first = sorted(
            (
                (score / (1.0 + 0.1 * at[stems]), stems)
                for score, stems in scored
                if stems in at and _nameable(_form_of(stems, said, forms, after), after)
            ),
            key=lambda item: (-item[0], item[1]),
        )
        # Two topics named alike would read as one (and be folded into one): a name already
        # given goes to the first part that had it.
        said_first = [stems for _, stems in opening_first if stems not in taken]
        rest = [stems for _, stems in scored if stems not in taken] or [scored[0][1]]
        chosen = said_first[0] if said_first else rest[0]
        if len(chosen) == 1:
            # A word the opening says inside a scored pair is named by the pair.
            chosen = next((s for s in said_first if len(s) == 2 and chosen[0] in s), chosen)
        taken.add(chosen)
        phrase = _form_of(chosen, said, forms, after)
        titles.append(phrase[:1].upper() + phrase[1:])
    return titles


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
    parts: list[list[str | None]] = []
    governed: list[Counter[str]] = []
    openings: list[str] = []
    for start, end in zip(starts, ends, strict=True):
        words: list[str | None] = []
        after: Counter[str] = Counter()
        opening: list[str] = []
        for segment in segments:
            if start <= _speech_start(segment) < end:
                words.extend(_content_words(segment.text))
                words.append(None)
                after.update(_governed(segment.text))
                if _opening_continues(opening, _speech_start(segment) - start):
                    opening.append(segment.text)
        parts.append(words)
        governed.append(after)
        openings.append(_first_sentences(" ".join(opening)))
    titles = _titles(parts, governed, openings)

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
