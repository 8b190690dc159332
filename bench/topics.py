"""How long the offline topics method takes on long lectures, and the titles' share of it.

Run from the repository root::

    .venv/bin/python -m bench.topics [--minutes 90] [--runs 5]

Builds a lecture in English and one in Russian of the given length: about 150 spoken words a
minute in segments of five seconds, on eight subjects in turn, each with its own noun
phrases said in sentences of lecture phrasing (function words, fillers, verbs). Times
`pipeline.offline_topics.extract_topics` on each (processor time, the best of the runs) and,
alone, `pipeline.offline_titles.chapter_titles` on the chapters it found, and prints both
per chapter in milliseconds.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

from pipeline.offline_titles import chapter_titles
from pipeline.offline_topics import extract_topics
from pipeline.transcript import Segment, Transcript

_SUBJECTS = {
    "en": [
        ["sampling rate", "Nyquist frequency", "anti-aliasing filter", "sine wave"],
        ["gradient descent", "learning rate", "loss function", "mini batch"],
        ["database index", "query planner", "table scan", "composite index"],
        ["decision tree", "random forest", "Gini impurity", "tree depth"],
        ["hash table", "hash function", "load factor", "open addressing"],
        ["neural network", "hidden layer", "activation function", "weight matrix"],
        ["linear regression", "squared error", "normal equation", "feature vector"],
        ["virtual memory", "page table", "page fault", "memory address"],
    ],
    "ru": [
        ["частота дискретизации", "частота Найквиста", "фильтр нижних частот", "синусоида"],
        ["градиентный спуск", "шаг обучения", "функция потерь", "мини-батч"],
        ["индекс базы данных", "планировщик запросов", "просмотр таблицы", "составной индекс"],
        ["дерево решений", "случайный лес", "индекс Джини", "глубина дерева"],
        ["хеш-таблица", "хеш-функция", "коэффициент заполнения", "открытая адресация"],
        ["нейронная сеть", "скрытый слой", "функция активации", "матрица весов"],
        ["линейная регрессия", "квадратичная ошибка", "нормальное уравнение", "вектор признаков"],
        ["виртуальная память", "таблица страниц", "страничный сбой", "адрес в памяти"],
    ],
}
_FRAMES = {
    "en": [
        "So, {a} is what we look at now, and {b} comes right after it.",
        "Remember that the {a} really depends on the {b} here.",
        "You can see on this slide how {a} and {b} work together.",
        "Okay, a question: why does {a} change when {b} grows?",
        "In practice people tune {a} first and leave {b} alone.",
    ],
    "ru": [
        "Итак, сейчас смотрим на {a}, а потом разберём {b}.",
        "Запомните, что здесь {a} зависит от того, какой {b}.",
        "На слайде видно, как {a} и {b} работают вместе.",
        "Вопрос: почему {a} меняется, когда растёт {b}?",
        "На практике сначала настраивают {a}, а {b} не трогают.",
    ],
}


def lecture(language: str, minutes: float, seed: int = 1) -> Transcript:
    """``minutes`` of lecture on eight subjects in turn, a segment every five seconds."""
    rng = random.Random(seed)
    subjects = _SUBJECTS[language]
    segments: list[Segment] = []
    count = int(minutes * 12)
    for i in range(count):
        phrases = subjects[i * len(subjects) // count]
        a, b = rng.sample(phrases, 2)
        text = f"{rng.choice(_FRAMES[language]).format(a=a, b=b)} {a.capitalize()} again."
        segments.append(Segment(start=i * 5.0, end=i * 5.0 + 4.5, text=text))
    return Transcript(language=language, segments=segments)


def _best(runs: int, work: Callable[[], object]) -> float:
    spent: list[float] = []
    for _ in range(runs):
        started = time.process_time()
        work()
        spent.append(time.process_time() - started)
    return min(spent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=90.0)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    for language in ("en", "ru"):
        transcript = lecture(language, args.minutes)
        topics = extract_topics(transcript)
        starts = [t.start for t in topics.topics]
        ends = [*starts[1:], transcript.duration + 1.0]
        parts = [
            [s.text for s in transcript.segments if start <= s.start < end]
            for start, end in zip(starts, ends, strict=True)
        ]
        openings = [" ".join(part[:3]) for part in parts]
        total = _best(args.runs, lambda t=transcript: extract_topics(t))
        titles = _best(args.runs, lambda p=parts, o=openings: chapter_titles(p, o))
        words = sum(len(s.text.split()) for s in transcript.segments)
        print(
            f"{language}: {args.minutes:.0f} min, {words} words, {len(parts)} chapters: "
            f"topics {1000 * total / len(parts):.1f} ms a chapter, "
            f"of which titles {1000 * titles / len(parts):.1f} ms"
        )
        print("   ", " · ".join(t.title for t in topics.topics))


if __name__ == "__main__":
    main()
