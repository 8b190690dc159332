"""Offline topics of a Russian lecture: word forms count as one term, titles read as said."""

from __future__ import annotations

import random
import re

import snowballstemmer

from pipeline.offline_topics import extract_topics
from pipeline.topics import chapters
from pipeline.transcript import Segment, Transcript

SECTIONS = {
    "растения": [
        "Давайте поговорим о том, как растения получают энергию.",
        "Фотосинтез идёт в листьях, где хлорофилл поглощает солнечный свет.",
        "Без хлорофилла фотосинтез невозможен, поэтому листья зелёные.",
        "Растения берут углекислый газ из воздуха и отдают кислород.",
        "Солнечный свет даёт энергию, и из углекислого газа получается глюкоза.",
        "Хлоропласты в клетках листьев хранят хлорофилл.",
        "Кислород, который мы вдыхаем, выделяют растения при фотосинтезе.",
        "Глюкоза нужна растениям для роста корней и стеблей.",
    ],
    "замки": [
        "Теперь поговорим о том, как строили средневековые замки.",
        "Средневековый замок окружали каменные стены и глубокий ров.",
        "Рыцари защищали каменные стены замка во время осады.",
        "Феодалы строили замки на холмах, чтобы видеть врага издалека.",
        "Подъёмный мост поднимали, когда к замку подходило войско.",
        "В башнях средневековых замков хранили оружие и зерно.",
        "Осада замка могла длиться месяцами, пока у защитников не кончалось зерно.",
        "Каменные стены и подъёмный мост делали замок крепостью.",
    ],
    "сети": [
        "А сейчас давайте поговорим о том, как учатся нейронные сети.",
        "Нейронная сеть состоит из слоёв, и у каждого слоя есть веса.",
        "Веса нейронной сети подбирает градиентный спуск.",
        "Градиентный спуск уменьшает функцию потерь шаг за шагом.",
        "Регуляризация не даёт нейронной сети переобучиться.",
        "Без регуляризации нейронные сети запоминают обучающие примеры.",
        "Функция потерь показывает, насколько ошибается нейронная сеть.",
        "Для регуляризации к функции потерь добавляют штраф за большие веса.",
    ],
}
STARTS = {"растения": 0.0, "замки": 300.0, "сети": 600.0}
_STEM = snowballstemmer.stemmer("russian")


def _lecture(seed: int = 2, seconds_each: float = 300.0) -> Transcript:
    rng = random.Random(seed)
    segments: list[Segment] = []
    for subject, start in STARTS.items():
        time = start
        sentences = SECTIONS[subject]
        while time < start + seconds_each - 1:
            # Each section opens with its own first sentence, then ranges over the rest.
            text = sentences[0] if time == start else rng.choice(sentences[1:])
            segments.append(Segment(start=time, end=time + 5.5, text=text))
            time += 6.0
    return Transcript(language="ru", segments=segments)


def _stems(text: str) -> set[str]:
    words = re.findall(r"[а-яё]+", text.casefold())
    return {_STEM.stemWord(w.replace("ё", "е")) for w in words}


def test_three_russian_subjects_give_three_chapters_named_in_their_own_words() -> None:
    transcript = _lecture()
    topics = extract_topics(transcript, duration=900.0)

    starts = [t.start for t in topics.topics]
    assert len(chapters(topics, 900.0)) >= 3
    for change in (300.0, 600.0):
        assert min(abs(s - change) for s in starts) <= 30.0, starts
    for subject, start in STARTS.items():
        topic = min(topics.topics, key=lambda t: abs(t.start - start))
        said = " ".join(SECTIONS[subject]).casefold()
        assert topic.title[:1].isupper(), topic.title
        assert _stems(topic.title) <= _stems(said), topic.title
        # Fillers every section says ("давайте поговорим о том") name none of them.
        assert not _stems(topic.title) & _stems("давайте поговорим теперь сейчас"), topic.title
        # A word pair keeps the agreement it was spoken with.
        for phrase in topic.title.split(", "):
            assert phrase.casefold() in said, (topic.title, phrase)


def test_forms_of_a_word_count_as_one_term_and_titles_name_them_in_the_nominative() -> None:
    for seed in (2, 5):
        topics = extract_topics(_lecture(seed), duration=900.0)
        networks = min(topics.topics, key=lambda t: abs(t.start - 600.0)).title.casefold()
        # "нейронная сеть", "нейронной сети", "нейронные сети": one term, named as a whole.
        assert re.search(r"нейронн(?:ая сеть|ые сети)", networks), networks
        # Said after "без" and "для" as "регуляризации", named "регуляризация".
        assert "регуляризации" not in networks, networks
