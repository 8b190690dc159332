import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from pipeline.timecodes import Chapter
from pipeline.topics import (
    Break,
    Subtopic,
    Topic,
    Topics,
    chapters,
    chapters_text,
    from_chapters,
    normalize,
    youtube_chapters,
)
from pipeline.transcript import Segment, Transcript, Word, merge, segments_from_words


def _segment(start: float, end: float, text: str) -> Segment:
    return Segment(start=start, end=end, text=text)


def test_transcript_json_matches_the_contract(tmp_path: Path) -> None:
    transcript = Transcript(
        language="en",
        segments=[
            Segment(
                start=0.0,
                end=1.5,
                text="Hello there.",
                words=[
                    Word(start=0.0, end=0.6, word="Hello", probability=0.9),
                    Word(start=0.7, end=1.5, word="there."),
                ],
            ),
            _segment(2.0, 3.0, "No words here."),
        ],
    )
    data = json.loads(transcript.dump_json())
    assert data == {
        "language": "en",
        "segments": [
            {
                "start": 0.0,
                "end": 1.5,
                "text": "Hello there.",
                "words": [
                    {"start": 0.0, "end": 0.6, "word": "Hello", "probability": 0.9},
                    {"start": 0.7, "end": 1.5, "word": "there."},
                ],
            },
            {"start": 2.0, "end": 3.0, "text": "No words here."},
        ],
    }
    path = tmp_path / "transcript.json"
    path.write_text(transcript.dump_json(), encoding="utf-8")
    assert Transcript.load_json(path) == transcript


def test_transcript_rejects_non_numbers_and_repairs_reversed_times() -> None:
    with pytest.raises(ValidationError):
        Transcript.model_validate({"language": "en", "segments": [{"start": "x", "end": 1}]})
    with pytest.raises(ValidationError):
        Segment(start=float("nan"), end=1.0, text="a")
    assert Segment(start=5.0, end=4.0, text=" a ").model_dump() == {
        "start": 5.0,
        "end": 5.0,
        "text": "a",
    }


def test_topics_json_matches_the_contract(tmp_path: Path) -> None:
    topics = Topics(
        summary="About things.",
        topics=[Topic(start=0.0, title="Intro", subtopics=[Subtopic(start=30.0, title="Plan")])],
        breaks=[Break(start=100.0, end=160.0)],
    )
    data = json.loads(topics.dump_json())
    assert data == {
        "summary": "About things.",
        "topics": [
            {"start": 0.0, "title": "Intro", "subtopics": [{"start": 30.0, "title": "Plan"}]}
        ],
        "breaks": [{"start": 100.0, "end": 160.0}],
    }
    path = tmp_path / "topics.json"
    path.write_text(topics.dump_json(), encoding="utf-8")
    assert Topics.load_json(path) == topics
    assert (
        Topics.model_validate({"summary": "", "topics": [{"start": 1, "title": "x"}]})
        .topics[0]
        .subtopics
        == []
    )


def test_merge_keeps_times_on_the_whole_timeline() -> None:
    first = Transcript(language="en", segments=[_segment(0.0, 4.0, "First chunk.")])
    second = Transcript(
        language="en",
        segments=[
            Segment(
                start=5.0,
                end=7.0,
                text="Thirty minutes in.",
                words=[
                    Word(start=5.0, end=6.0, word="Thirty"),
                    Word(start=6.0, end=7.0, word="in"),
                ],
            )
        ],
    )
    merged = merge([(1800.0, second), (0.0, first)])
    assert [s.text for s in merged.segments] == ["First chunk.", "Thirty minutes in."]
    later = merged.segments[1]
    assert later.start == pytest.approx(1805.0)
    assert later.end == pytest.approx(1807.0)
    assert later.words is not None and later.words[0].start == pytest.approx(1805.0)
    assert Transcript.merge([(0.0, first)]) == first


def test_merge_removes_overlaps_and_repeats_from_overlapping_chunks() -> None:
    first = Transcript(
        language="ru",
        segments=[_segment(0.0, 10.0, "Alpha beta."), _segment(10.0, 21.0, "Gamma delta.")],
    )
    # The next chunk starts at 20 s and hears the tail of "gamma delta" again.
    second = Transcript(
        language="ru",
        segments=[_segment(0.0, 1.5, "gamma, delta"), _segment(0.5, 6.0, "Epsilon.")],
    )
    merged = merge([(0.0, first), (20.0, second)])
    texts = [s.text for s in merged.segments]
    assert texts == ["Alpha beta.", "Gamma delta.", "Epsilon."]
    for a, b in zip(merged.segments, merged.segments[1:], strict=False):
        assert a.end <= b.start
    assert merged.language == "ru"


def test_segments_from_words_splits_at_sentences_pauses_and_length() -> None:
    words = [
        Word(start=0.0, end=0.4, word="Hello"),
        Word(start=0.5, end=0.9, word="world."),
        Word(start=1.0, end=1.3, word="Next"),
        Word(start=1.4, end=1.8, word="part"),
        Word(start=5.0, end=5.5, word="after"),
        Word(start=5.6, end=6.0, word="pause"),
    ]
    segments = segments_from_words(words, max_gap=1.0)
    assert [s.text for s in segments] == ["Hello world.", "Next part", "after pause"]
    assert segments[2].start == 5.0 and segments[2].end == 6.0
    assert segments[0].words == words[:2]

    many = [Word(start=i * 0.5, end=i * 0.5 + 0.4, word=f"w{i}") for i in range(100)]
    long_segments = segments_from_words(many, max_len=10.0)
    assert all(s.end - s.start <= 10.0 for s in long_segments)
    assert " ".join(s.text for s in long_segments).split() == [w.word for w in many]


def test_segments_from_whisper_style_tokens_keep_their_spacing() -> None:
    words = [
        Word(start=0.0, end=0.3, word=" It"),
        Word(start=0.3, end=0.6, word="'s"),
        Word(start=0.6, end=0.9, word=" fine"),
        Word(start=0.9, end=1.0, word="."),
    ]
    assert [s.text for s in segments_from_words(words)] == ["It's fine."]


def test_text_shift_and_timecoded_lines() -> None:
    transcript = Transcript(
        language="en", segments=[_segment(0.0, 2.0, "One."), _segment(3725.4, 3727.0, "Two.")]
    )
    assert transcript.text() == "One. Two."
    assert transcript.to_timecoded_lines() == ["[00:00:00] One.", "[01:02:05] Two."]
    shifted = transcript.shifted(-1.0)
    assert shifted.segments[0].start == 0.0
    assert shifted.segments[1].start == pytest.approx(3724.4)


def test_normalize_clamps_sorts_merges_and_starts_at_zero() -> None:
    raw = Topics(
        summary="  s  ",
        topics=[
            Topic(start=300.0, title="Third"),
            Topic(start=12.0, title="  First   topic "),
            Topic(start=14.0, title="Too close to first"),
            Topic(start=100.0, title="Second"),
            Topic(start=200.0, title="second"),
            Topic(start=150.0, title="   "),
            Topic(start=-5.0, title="Negative"),
            Topic(start=9999.0, title="Past the end"),
        ],
        breaks=[Break(start=50.0, end=80.0), Break(start=70.0, end=90.0), Break(start=5, end=2)],
    )
    result = normalize(raw, duration=600.0)
    assert [(t.start, t.title) for t in result.topics] == [
        (0.0, "Negative"),
        (12.0, "First topic"),
        (100.0, "Second"),
        (300.0, "Third"),
    ]
    assert result.breaks == [Break(start=50.0, end=90.0)]
    assert result.summary == "s"


def test_normalize_moves_subtopics_under_their_topic() -> None:
    raw = Topics(
        topics=[
            Topic(start=0.0, title="A", subtopics=[Subtopic(start=150.0, title="in B")]),
            Topic(start=100.0, title="B", subtopics=[Subtopic(start=20.0, title="in A")]),
        ]
    )
    result = normalize(raw, duration=300.0)
    assert [s.title for s in result.topics[0].subtopics] == ["in A"]
    assert [s.title for s in result.topics[1].subtopics] == ["in B"]


def _assert_youtube_rules(result: list[Chapter], duration: float) -> None:
    assert len(result) >= 3
    assert result[0].start == 0.0
    ends = [c.start for c in result[1:]] + [duration]
    for chapter, end in zip(result, ends, strict=True):
        assert end - chapter.start >= 10.0


def test_chapters_follow_youtube_rules() -> None:
    topics = Topics(
        topics=[
            Topic(start=3.0, title="Intro"),
            Topic(start=8.0, title="Too soon"),
            Topic(start=61.7, title="Main"),
            Topic(start=592.0, title="Too near the end"),
            Topic(start=300.0, title="Later"),
        ]
    )
    result = chapters(topics, duration=600.0)
    _assert_youtube_rules(result, 600.0)
    assert [(c.start, c.title) for c in result] == [
        (0.0, "Intro"),
        (61.0, "Main"),
        (300.0, "Later"),
    ]


def test_chapters_are_never_invented_to_reach_youtubes_three() -> None:
    one = Topics(topics=[Topic(start=0.0, title="Only")])
    result = chapters(one, duration=45.0)
    assert [(c.start, c.title) for c in result] == [(0.0, "Only")]
    assert youtube_chapters(result) == []

    with_sub = Topics(
        topics=[Topic(start=0.0, title="A", subtopics=[Subtopic(start=200.0, title="A.1")])]
    )
    assert [c.title for c in chapters(with_sub, duration=400.0)] == ["A"]

    three = chapters(
        Topics(topics=[Topic(start=0.0, title="A"), Topic(start=20.0, title="B"),
                       Topic(start=40.0, title="C")]),
        duration=60.0,
    )  # fmt: skip
    assert youtube_chapters(three) == three


def test_no_chapters_for_videos_shorter_than_a_chapter_or_no_topics() -> None:
    topics = Topics(topics=[Topic(start=0.0, title="A"), Topic(start=10.0, title="B")])
    assert [c.title for c in chapters(topics, duration=29.0)] == ["A", "B"]
    assert [c.title for c in chapters(topics, duration=19.0)] == ["A"]
    assert chapters(topics, duration=9.0) == []
    assert chapters(Topics(), duration=600.0) == []


def test_chapters_text_uses_youtube_format() -> None:
    text = chapters_text(
        [
            Chapter(start=0.0, title="Intro"),
            Chapter(start=62.9, title="Next"),
            Chapter(start=3723.0, title="Late"),
        ]
    )
    assert text == "0:00 Intro\n1:02 Next\n1:02:03 Late"


def test_a_corrected_chapter_list_becomes_topics() -> None:
    found = [Chapter(start=0.0, title="A"), Chapter(start=60.0, title="B")]
    topics = from_chapters(found, summary="s", breaks=[Break(start=10.0, end=20.0)])
    assert [(t.start, t.title) for t in topics.topics] == [(0.0, "A"), (60.0, "B")]
    assert topics.summary == "s" and topics.breaks == [Break(start=10.0, end=20.0)]
