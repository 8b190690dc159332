"""A segment that runs across a long silence is two segments, each where its words are."""

from __future__ import annotations

from pipeline.transcript import Segment, Word, labelled, split_at_pauses


def _segment(*words: tuple[float, float, str]) -> Segment:
    found = [Word(start=a, end=b, word=f" {w}") for a, b, w in words]
    return Segment(
        start=words[0][0], end=words[-1][1], text=" ".join(w for *_, w in words), words=found
    )


def test_a_last_word_after_a_break_gets_its_own_segment() -> None:
    # As an engine heard "… I will say banana. <22 s of silence> banana".
    heard = _segment((15.9, 16.6, "say"), (16.62, 17.0, "banana."), (39.24, 40.28, "banana"))
    first, second = split_at_pauses(heard)
    assert (first.start, first.end, first.text) == (15.9, 17.0, "say banana.")
    assert (second.start, second.end, second.text) == (39.24, 40.28, "banana")
    assert [w.word.strip() for w in second.words or []] == ["banana"]


def test_short_pauses_and_segments_without_words_are_left_alone() -> None:
    speech = _segment((0.0, 0.4, "one"), (1.5, 1.9, "two"), (3.5, 3.9, "three"))
    assert split_at_pauses(speech) == [speech]
    bare = Segment(start=0.0, end=30.0, text="no word times")
    assert split_at_pauses(bare) == [bare]


def test_every_transcript_is_made_with_its_segments_split() -> None:
    heard = _segment((0.0, 0.5, "hello"), (20.0, 20.5, "again"))
    transcript = labelled([heard], "en")
    assert [(s.start, s.end, s.text) for s in transcript.segments] == [
        (0.0, 0.5, "hello"),
        (20.0, 20.5, "again"),
    ]
