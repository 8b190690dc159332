"""Offline chapter titles read like titles: the key phrase a chapter says, two to six words.

The lectures here are written the way people lecture (fillers, numbers, asides, no sentence
said twice), in English and in Russian, three subjects each; a chapter's title must be words
said one after another in that chapter, in the forms they were said in.
"""

from __future__ import annotations

import re
import time

import pytest

from pipeline.offline_titles import MAX_TITLE_CHARS, chapter_titles
from pipeline.offline_topics import extract_topics
from pipeline.offline_words import STOP_WORDS, STOP_WORDS_RU, stem
from pipeline.transcript import Segment, Transcript

EN = {
    "sampling": [
        "Okay, so let's start with the sampling rate, which is really the heart of digital audio.",
        "When we record sound, the microphone gives us a continuous signal, and we measure "
        "it many times per second.",
        "The number of measurements per second is the sampling rate, and for CD audio it "
        "is 44.1 kilohertz.",
        "Now, why that number? Because of the Nyquist frequency, which is half the sampling rate.",
        "Anything above the Nyquist frequency cannot be represented, it folds back into "
        "lower frequencies.",
        "That folding is what we call aliasing, and aliasing sounds really ugly, like "
        "metallic whistles.",
        "So before sampling we put an anti-aliasing filter, a low-pass filter that removes "
        "the high frequencies.",
        "If your sampling rate is too low, you get aliasing no matter how good the microphone is.",
        "Let me show you a sine wave at 30 kilohertz sampled at 44.1 kilohertz.",
        "You see the samples line up into a slower wave, that's the alias frequency.",
        "Human hearing goes up to about 20 kilohertz, so the sampling rate has to be above 40.",
        "Video has the same problem, the wagon wheel that turns backwards is aliasing in time.",
        "In practice the anti-aliasing filter is never perfect, so we leave a little margin.",
        "That margin is why the sampling rate is 44.1 and not exactly 40 kilohertz.",
        "Any questions about the sampling rate or aliasing before we move on?",
    ],
    "gradient": [
        "Right, the second big topic today is gradient descent and the learning rate.",
        "We have a loss function that tells us how wrong the model is on the training data.",
        "Gradient descent takes the gradient of the loss function and steps against it.",
        "The size of that step is the learning rate, probably the most important "
        "hyperparameter you will tune.",
        "If the learning rate is too large, the loss jumps around and can even explode.",
        "If the learning rate is too small, training takes forever and gets stuck on plateaus.",
        "Stochastic gradient descent uses a small batch of examples instead of the whole data set.",
        "The noise from those mini batches actually helps escape sharp minima.",
        "People often decay the learning rate during training, for example by a factor of ten.",
        "Momentum keeps a running average of the gradients, so the steps are smoother.",
        "Adam adapts the learning rate for every parameter separately.",
        "Still, with Adam you choose a base learning rate, and it matters a lot.",
        "Plot the loss function against the step number and you will see all of this.",
        "A good learning rate gives a loss curve that falls quickly and then flattens.",
        "So gradient descent is simple, but the learning rate makes or breaks it.",
    ],
    "indexes": [
        "Now let's switch gears completely and talk about database indexes.",
        "Without an index, the database has to scan the whole table to find a row.",
        "A full table scan on a million rows is slow, and it gets slower as the table grows.",
        "Most database indexes are B-trees, balanced trees that keep the keys sorted.",
        "A B-tree index lets the query planner jump straight to the rows it needs.",
        "The query planner decides whether to use the index or scan the table.",
        "Indexes are not free, every insert and update has to maintain them too.",
        "So you index the columns that appear in your where clauses and joins.",
        "A composite index covers several columns, and the order of the columns matters.",
        "Run explain on your query to see what plan the query planner picked.",
        "If explain shows a sequential scan on a big table, you probably miss an index.",
        "Hash indexes are faster for equality, but they cannot answer range queries.",
        "A covering index holds every column the query reads, so the table is never touched.",
        "Too many database indexes slow down writes and waste disk space.",
        "That's it for database indexes, next week we look at transactions.",
    ],
}
RU = {
    "спуск": [
        "Итак, начнём с того, как работает градиентный спуск и зачем нужен шаг обучения.",
        "У нас есть функция потерь, она показывает, насколько модель ошибается на "
        "обучающей выборке.",
        "Градиентный спуск считает градиент функции потерь и делает шаг в обратную сторону.",
        "Размер этого шага называется шагом обучения, и это, пожалуй, самый важный гиперпараметр.",
        "Если шаг обучения слишком большой, функция потерь начинает скакать и может даже "
        "взорваться.",
        "Если шаг обучения слишком маленький, обучение идёт очень долго и застревает на плато.",
        "Стохастический градиентный спуск берёт не всю выборку, а небольшой батч примеров.",
        "Шум от маленьких батчей на самом деле помогает выбраться из острых минимумов.",
        "Часто шаг обучения уменьшают по ходу обучения, например в десять раз.",
        "Моментум хранит скользящее среднее градиентов, поэтому шаги получаются плавнее.",
        "Адам подбирает свой шаг обучения для каждого параметра отдельно.",
        "Но и у Адама есть базовый шаг обучения, и от него многое зависит.",
        "Постройте график функции потерь по шагам, и вы всё это увидите.",
        "Хороший шаг обучения даёт кривую, которая быстро падает, а потом выходит на плато.",
        "Так что градиентный спуск простой, но без правильного шага обучения он не работает.",
    ],
    "дискретизация": [
        "Теперь перейдём к цифровому звуку и поговорим про частоту дискретизации.",
        "Микрофон выдаёт непрерывный сигнал, а мы измеряем его много раз в секунду.",
        "Число измерений в секунду и есть частота дискретизации, для компакт-дисков это "
        "44,1 килогерца.",
        "Почему именно столько? Из-за частоты Найквиста, она равна половине частоты дискретизации.",
        "Всё, что выше частоты Найквиста, не может быть записано и складывается в низкие частоты.",
        "Это наложение спектров называют алиасингом, и звучит алиасинг очень противно.",
        "Поэтому перед оцифровкой ставят фильтр нижних частот, который убирает высокие частоты.",
        "Если частота дискретизации слишком низкая, алиасинг будет при любом микрофоне.",
        "Посмотрите на синусоиду в 30 килогерц, оцифрованную с частотой 44,1 килогерца.",
        "Отсчёты складываются в более медленную волну, это и есть наложение спектров.",
        "Человек слышит примерно до 20 килогерц, поэтому частота дискретизации должна быть "
        "выше 40.",
        "В видео та же проблема, колесо телеги крутится назад из-за алиасинга во времени.",
        "Фильтр нижних частот никогда не бывает идеальным, поэтому оставляют небольшой запас.",
        "Из-за этого запаса частота дискретизации 44,1, а не ровно 40 килогерц.",
        "Есть вопросы про частоту дискретизации или алиасинг, пока мы не пошли дальше?",
    ],
    "индексы": [
        "А сейчас совсем другая тема, поговорим про индексы в базах данных.",
        "Без индекса базе данных приходится просматривать всю таблицу, чтобы найти строку.",
        "Полный просмотр таблицы на миллион строк работает медленно, и чем больше таблица, "
        "тем хуже.",
        "Большинство индексов в базах данных устроены как B-деревья, сбалансированные "
        "деревья с упорядоченными ключами.",
        "Индекс на B-дереве позволяет планировщику запросов сразу перейти к нужным строкам.",
        "Планировщик запросов решает, использовать индекс или просматривать таблицу целиком.",
        "Индексы не бесплатны, каждая вставка и каждое обновление должны их поддерживать.",
        "Поэтому индексируют те столбцы, которые встречаются в условиях и соединениях.",
        "Составной индекс покрывает несколько столбцов, и порядок столбцов важен.",
        "Запустите explain для своего запроса и посмотрите, какой план выбрал планировщик "
        "запросов.",
        "Если explain показывает последовательный просмотр большой таблицы, вам, скорее "
        "всего, не хватает индекса.",
        "Хеш-индексы быстрее на равенствах, но не умеют отвечать на запросы по диапазону.",
        "Покрывающий индекс хранит все столбцы, которые читает запрос, и к таблице "
        "обращаться не нужно.",
        "Слишком много индексов замедляют запись и занимают место на диске.",
        "На этом про индексы всё, на следующей неделе разберём транзакции.",
    ],
}

LECTURES = {"en": EN, "ru": RU}
SECONDS = 15.0
# Words one of which a section's title must hold (by stem): what the section is about.
ABOUT = {
    "sampling": "sampling aliasing nyquist",
    "gradient": "gradient learning loss",
    "indexes": "index indexes database planner",
    "спуск": "градиентный спуск шаг обучения",
    "дискретизация": "частота дискретизации найквиста алиасинг",
    "индексы": "индексы базах данных планировщик",
}


def _lecture(language: str) -> tuple[Transcript, float]:
    segments: list[Segment] = []
    time = 0.0
    for sentences in LECTURES[language].values():
        for sentence in sentences:
            segments.append(Segment(start=time, end=time + SECONDS - 1.0, text=sentence))
            time += SECONDS
    return Transcript(language=language, segments=segments), time


def _words(text: str) -> list[str]:
    return re.findall(r"[^\W\d_]+(?:[-'][^\W\d_]+)*", text.casefold())


def _said_in(title: str, texts: list[str]) -> bool:
    """Whether ``title`` is words said one after another, within one clause of ``texts``."""
    wanted = _words(title)
    for text in texts:
        for clause in re.split(r"[,;:.!?…()]", text):
            words = _words(clause)
            if any(words[i : i + len(wanted)] == wanted for i in range(len(words))):
                return True
    return False


def _stems(text: str) -> set[str]:
    return {stem(word) for word in _words(text)}


@pytest.mark.parametrize("language", ["en", "ru"])
def test_each_chapter_is_named_by_a_key_phrase_it_says(language: str) -> None:
    transcript, duration = _lecture(language)
    topics = extract_topics(transcript, duration)

    sections = list(LECTURES[language].items())
    assert len(topics.topics) == len(sections), topics.topics
    titles = [topic.title for topic in topics.topics]
    assert len({t.casefold() for t in titles}) == len(titles), titles
    for index, (topic, (name, sentences)) in enumerate(zip(topics.topics, sections, strict=True)):
        assert abs(topic.start - index * len(sentences) * SECONDS) <= 2 * SECONDS, topics.topics
        title = topic.title
        words = _words(title)
        assert 2 <= len(words) <= 6, title
        assert len(title) <= MAX_TITLE_CHARS, title
        assert title[:1].isupper(), title
        assert _said_in(title, sentences), (title, name)
        assert not {words[0], words[-1]} & (STOP_WORDS | STOP_WORDS_RU), title
        assert _stems(title) & _stems(ABOUT[name]), (title, name)


def test_titles_are_the_phrases_a_lecturer_would_type() -> None:
    en = [t.title for t in extract_topics(*_lecture("en")).topics]
    ru = [t.title for t in extract_topics(*_lecture("ru")).topics]
    assert en == ["Sampling rate", "Learning rate", "Database indexes"]
    # In the nominative, as said after "про", not the "индексов в базах данных" said later.
    assert ru == ["Шаг обучения", "Частота дискретизации", "Индексы в базах данных"]


def test_only_titles_change_the_chapters_and_summary_stay() -> None:
    transcript, duration = _lecture("en")
    topics = extract_topics(transcript, duration)
    assert [t.start for t in topics.topics] == [0.0, 225.0, 450.0]
    assert topics.summary.startswith(EN["sampling"][0])


def test_a_name_keeps_its_capital_and_a_sentence_start_does_not() -> None:
    said = [
        "And so, my fellow Americans, ask not what your country can do for you, "
        "ask what you can do for your country."
    ]
    assert chapter_titles([said], [said[0]]) == ["Fellow Americans"]
    lecture = [
        "Gradient descent is next.",
        "We run gradient descent on the GPU.",
        "Why does gradient descent need the GPU?",
    ]
    assert chapter_titles([lecture], [lecture[0]]) == ["Gradient descent"]


def test_a_russian_phrase_is_a_noun_phrase_not_a_clause() -> None:
    said = ["Важно различать глаголы и дополнения."]
    assert chapter_titles([said], said) == ["Глаголы и дополнения"]
    said = ["Нейронные сети это хорошо."]
    assert chapter_titles([said], said) == ["Нейронные сети"]


def test_two_chapters_on_one_subject_get_two_titles() -> None:
    sentences = EN["gradient"]
    titles = chapter_titles([sentences, sentences], [sentences[0], sentences[0]])
    assert titles[0] != titles[1] and all(len(t.split()) >= 2 for t in titles), titles
    assert all(_said_in(t, sentences) for t in titles), titles


def test_a_chapter_with_no_phrase_gets_a_word_or_nothing() -> None:
    assert chapter_titles([["Regularization."], ["Okay, so, um."]], ["", ""]) == [
        "Regularization",
        "",
    ]


def test_titles_take_a_few_milliseconds_per_chapter_of_a_long_lecture() -> None:
    # Fifteen chapters of about 1,700 words each: a lecture of nearly three hours.
    for language in ("en", "ru"):
        pool = [s for sentences in LECTURES[language].values() for s in sentences]
        chapters = [
            [
                f"{pool[(i * 7 + k) % len(pool)]} {pool[(i * 3 + 5 * k) % len(pool)]}"
                for k in range(60)
            ]
            for i in range(15)
        ]
        openings = [chapter[0] for chapter in chapters]
        chapter_titles(chapters, openings)
        # Processor time, so other work on the machine does not count.
        spent = min(_timed(chapters, openings) for _ in range(3))
        assert spent / len(chapters) < 0.025, (language, spent)


def _timed(chapters: list[list[str]], openings: list[str]) -> float:
    started = time.process_time()
    chapter_titles(chapters, openings)
    return time.process_time() - started


# One subject (machine learning) in four parts that share much of their vocabulary.
ONE_SUBJECT_EN = [
    [
        "Let's begin with linear regression, the simplest model we have.",
        "Linear regression fits a straight line through the data points.",
        "The model predicts a number, like the price of a house.",
        "We fit the line by minimizing the squared error.",
        "The squared error punishes big mistakes much more than small ones.",
        "In linear regression the weights have a closed form solution.",
        "So the normal equation gives the weights directly.",
        "But with many features the normal equation gets expensive.",
    ],
    [
        "Now, logistic regression, which despite the name is a classifier.",
        "Logistic regression squeezes the output through the sigmoid function.",
        "The sigmoid function turns any number into a probability.",
        "We train it with the cross entropy loss, not the squared error.",
        "The decision boundary of logistic regression is a straight line.",
        "If the classes overlap, the probabilities stay near one half.",
        "For several classes we use the softmax function instead of the sigmoid.",
        "Logistic regression is still the first thing to try on a new classification problem.",
    ],
    [
        "Next, overfitting and regularization.",
        "A model with too many weights memorizes the training data.",
        "That is overfitting: great on training data, bad on the test set.",
        "Regularization adds a penalty on large weights to the loss.",
        "L2 regularization shrinks all the weights a little.",
        "L1 regularization pushes many weights to exactly zero.",
        "The strength of regularization is a hyperparameter you tune on the validation set.",
        "With the right penalty the test error goes down.",
    ],
    [
        "Finally, decision trees.",
        "A decision tree asks one question about one feature at every node.",
        "Each split tries to make the leaves as pure as possible.",
        "We measure purity with the Gini impurity or with entropy.",
        "Deep decision trees overfit, so we limit the depth.",
        "A random forest averages many decision trees trained on random samples.",
        "The random forest is hard to beat on tabular data.",
        "Gradient boosting builds the trees one after another, each fixing the last.",
    ],
]
ONE_SUBJECT_RU = [
    [
        "Начнём с линейной регрессии, это самая простая модель.",
        "Линейная регрессия проводит прямую через точки данных.",
        "Модель предсказывает число, например цену квартиры.",
        "Прямую подбирают, минимизируя квадратичную ошибку.",
        "Квадратичная ошибка сильно наказывает большие промахи.",
        "У линейной регрессии веса находятся по явной формуле.",
        "Нормальное уравнение сразу даёт веса.",
        "Но при большом числе признаков нормальное уравнение считается долго.",
    ],
    [
        "Теперь логистическая регрессия, которая на самом деле классификатор.",
        "Логистическая регрессия пропускает выход через сигмоиду.",
        "Сигмоида превращает любое число в вероятность.",
        "Обучают её на перекрёстной энтропии, а не на квадратичной ошибке.",
        "Граница решений у логистической регрессии прямая.",
        "Если классы перекрываются, вероятности остаются около половины.",
        "Для нескольких классов вместо сигмоиды берут софтмакс.",
        "Логистическая регрессия первое, что стоит попробовать в задаче классификации.",
    ],
    [
        "Дальше переобучение и регуляризация.",
        "Модель с большим числом весов запоминает обучающую выборку.",
        "Это и есть переобучение: на обучающей выборке отлично, на тестовой плохо.",
        "Регуляризация добавляет к функции потерь штраф за большие веса.",
        "L2-регуляризация немного уменьшает все веса.",
        "L1-регуляризация обнуляет многие веса.",
        "Силу регуляризации подбирают на валидационной выборке.",
        "С правильным штрафом ошибка на тестовой выборке падает.",
    ],
    [
        "И наконец деревья решений.",
        "Дерево решений в каждом узле задаёт один вопрос про один признак.",
        "Каждое разбиение старается сделать листья как можно чище.",
        "Чистоту измеряют индексом Джини или энтропией.",
        "Глубокие деревья решений переобучаются, поэтому глубину ограничивают.",
        "Случайный лес усредняет много деревьев решений, обученных на случайных подвыборках.",
        "Случайный лес трудно обыграть на табличных данных.",
        "Градиентный бустинг строит деревья одно за другим, каждое исправляет предыдущее.",
    ],
]


@pytest.mark.parametrize("language", ["en", "ru"])
@pytest.mark.parametrize("granularity", ["normal", "more"])
def test_parts_of_one_subject_are_named_apart_by_their_own_phrases(
    language: str, granularity: str
) -> None:
    parts = ONE_SUBJECT_EN if language == "en" else ONE_SUBJECT_RU
    segments: list[Segment] = []
    for i, sentence in enumerate(s for part in parts for s in part):
        segments.append(Segment(start=i * SECONDS, end=(i + 1) * SECONDS - 1.0, text=sentence))
    duration = len(segments) * SECONDS
    topics = extract_topics(
        Transcript(language=language, segments=segments), duration, granularity=granularity
    )

    titles = [topic.title for topic in topics.topics]
    assert len(titles) >= 3 and len({t.casefold() for t in titles}) == len(titles), titles
    ends = [topic.start for topic in topics.topics[1:]] + [duration]
    for topic, end in zip(topics.topics, ends, strict=True):
        said = [s.text for s in segments if topic.start <= s.start < end]
        assert 2 <= len(_words(topic.title)) <= 6, titles
        assert _said_in(topic.title, said), (topic.title, said)
