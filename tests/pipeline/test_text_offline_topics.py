import random

from pipeline.offline_topics import extract_topics
from pipeline.topics import chapters
from pipeline.transcript import Segment, Transcript

_SUBJECTS = {
    "photosynthesis": [
        "photosynthesis",
        "chlorophyll",
        "leaves",
        "sunlight",
        "glucose",
        "carbon dioxide",
        "oxygen",
        "plants",
        "chloroplast",
        "light energy",
    ],
    "castles": [
        "castles",
        "medieval kings",
        "knights",
        "siege",
        "fortress walls",
        "feudal lords",
        "moat",
        "armor",
        "drawbridge",
        "battlements",
    ],
    "programming": [
        "python functions",
        "variables",
        "loops",
        "compiler",
        "source code",
        "recursion",
        "debugging",
        "interpreter",
        "syntax",
        "algorithms",
    ],
}
_FRAMES = [
    "So today we look at {a} and how {b} relates to it.",
    "Remember that {a} always depends on {b}.",
    "Here is an example where {a} meets {b} in practice.",
    "Many students confuse {a} with {b}, so let us be careful.",
    "The key idea is that {a} changes {b} over time.",
]


def _lecture(order: list[str], seconds_each: float, seed: int = 3) -> Transcript:
    rng = random.Random(seed)
    segments: list[Segment] = []
    time = 0.0
    for subject in order:
        end_of_subject = time + seconds_each
        while time < end_of_subject - 1:
            a, b = rng.sample(_SUBJECTS[subject], 2)
            text = rng.choice(_FRAMES).format(a=a, b=b)
            length = min(5.5, end_of_subject - time)
            segments.append(Segment(start=time, end=time + length - 0.5, text=text))
            time += length
    return Transcript(language="en", segments=segments)


def test_three_subjects_give_three_chapters_near_the_true_changes() -> None:
    transcript = _lecture(["photosynthesis", "castles", "programming"], 300.0)
    topics = extract_topics(transcript, duration=900.0)

    starts = [t.start for t in topics.topics]
    assert len(starts) >= 3
    assert starts[0] == 0.0
    for true_change in (300.0, 600.0):
        assert min(abs(s - true_change) for s in starts) <= 45.0
    segment_starts = {s.start for s in transcript.segments}
    assert all(s in segment_starts for s in starts)

    found = chapters(topics, 900.0)
    assert len(found) >= 3
    for subject, change in zip(
        ("photosynthesis", "castles", "programming"), (0, 300, 600), strict=True
    ):
        topic = min(topics.topics, key=lambda t: abs(t.start - change))
        vocabulary = {w for phrase in _SUBJECTS[subject] for w in phrase.split()}
        assert set(topic.title.casefold().replace(",", "").split()) <= vocabulary, topic.title
    assert topics.topics[0].title[:1].isupper()
    first_sentence = transcript.segments[0].text
    assert topics.summary.startswith(first_sentence)


def test_topic_count_grows_with_duration_and_boundaries_stay_in_order() -> None:
    order = ["photosynthesis", "castles", "programming"] * 3
    transcript = _lecture(order, 400.0, seed=5)
    topics = extract_topics(transcript)
    assert len(topics.topics) >= 6
    starts = [t.start for t in topics.topics]
    assert starts == sorted(starts)


def test_uniform_lecture_over_ten_minutes_still_gets_three_chapters() -> None:
    transcript = _lecture(["castles"], 720.0, seed=1)
    topics = extract_topics(transcript, duration=720.0)
    assert len(chapters(topics, 720.0)) >= 3


def test_russian_lecture_is_segmented_too() -> None:
    blocks = [
        ("Фотосинтез происходит в листьях растений, хлорофилл поглощает солнечный свет.", 0),
        ("Средневековые замки строили феодалы, рыцари защищали крепостные стены.", 300),
        ("Функции в программировании принимают аргументы, циклы повторяют код.", 600),
    ]
    segments = []
    for text, offset in blocks:
        for i in range(50):
            segments.append(Segment(start=offset + i * 6.0, end=offset + i * 6.0 + 5.0, text=text))
    topics = extract_topics(Transcript(language="ru", segments=segments), duration=900.0)
    starts = [t.start for t in topics.topics]
    assert any(abs(s - 300) <= 45 for s in starts)
    assert any(abs(s - 600) <= 45 for s in starts)
    assert "фотосинтез" in topics.topics[0].title.casefold()


def test_empty_and_short_transcripts() -> None:
    assert extract_topics(Transcript(language="en", segments=[]), duration=100.0).topics == []
    short = Transcript(language="en", segments=[Segment(start=0, end=5, text="Just hello there.")])
    topics = extract_topics(short, duration=6.0)
    assert [t.start for t in topics.topics] == [0.0]
    assert topics.topics[0].title


def test_long_silence_becomes_a_break() -> None:
    transcript = _lecture(["castles"], 200.0)
    later = _lecture(["programming"], 200.0).shifted(600.0)
    merged = Transcript(language="en", segments=transcript.segments + later.segments)
    topics = extract_topics(merged, duration=800.0)
    assert len(topics.breaks) == 1
    assert topics.breaks[0].start < 200.0 and topics.breaks[0].end == 600.0
