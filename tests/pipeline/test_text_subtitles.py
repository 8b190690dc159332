import random
import re
from itertools import pairwise

import pytest

from pipeline.subtitles import Cue, build_cues, to_srt, to_vtt
from pipeline.transcript import Segment, Transcript, Word

_VOCABULARY = ["lecture", "the", "a", "derivative", "of", "function", "x", "we", "integral", "is"]
_LONG_WORD = "pneumonoultramicroscopicsilicovolcanoconiosis-like"  # 51 characters


def _unpunctuated(seed: int, count: int) -> str:
    rng = random.Random(seed)
    words = [rng.choice(_VOCABULARY) for _ in range(count)]
    words[count // 2] = _LONG_WORD
    return " ".join(words)


def _cue_words(cues: list[Cue]) -> list[str]:
    return " ".join(" ".join(c.lines) for c in cues).split()


def _assert_limits(cues: list[Cue]) -> None:
    for cue in cues:
        assert 1 <= len(cue.lines) <= 2
        for line in cue.lines:
            assert len(line) <= 42 or " " not in line
        assert 0 < cue.end - cue.start <= 7.0
    for a, b in pairwise(cues):
        assert a.end <= b.start


def test_no_word_is_lost_without_word_times() -> None:
    texts = [_unpunctuated(seed, 80) for seed in range(3)]
    assert all(len(t) > 84 for t in texts)
    transcript = Transcript(
        language="en",
        segments=[
            Segment(start=i * 30.0, end=i * 30.0 + 28.0, text=t) for i, t in enumerate(texts)
        ],
    )
    cues = build_cues(transcript)
    assert _cue_words(cues) == transcript.text().split()
    _assert_limits(cues)


def test_word_times_are_used_and_no_word_is_lost() -> None:
    text = _unpunctuated(7, 60)
    words = [
        Word(start=10.0 + i * 0.4, end=10.0 + i * 0.4 + 0.3, word=token)
        for i, token in enumerate(text.split())
    ]
    transcript = Transcript(
        language="en", segments=[Segment(start=10.0, end=words[-1].end, text=text, words=words)]
    )
    cues = build_cues(transcript)
    assert _cue_words(cues) == text.split()
    _assert_limits(cues)
    assert cues[0].start == 10.0
    # Cue boundaries fall on word boundaries, so every cue starts when its first word does.
    starts = {w.start for w in words}
    assert all(c.start in starts for c in cues)


def test_punctuation_from_segment_text_survives_bare_api_words() -> None:
    words = [
        Word(start=0.0, end=0.5, word="Hello"),
        Word(start=0.5, end=1.0, word="world"),
    ]
    transcript = Transcript(
        language="en", segments=[Segment(start=0.0, end=1.0, text="Hello, world!", words=words)]
    )
    assert build_cues(transcript)[0].lines == ["Hello, world!"]


def test_a_long_pause_inside_a_segment_splits_the_cue() -> None:
    words = [
        Word(start=0.0, end=0.5, word="before"),
        Word(start=5.0, end=5.5, word="after"),
    ]
    transcript = Transcript(
        language="en", segments=[Segment(start=0.0, end=5.5, text="before after", words=words)]
    )
    cues = build_cues(transcript)
    assert [c.lines for c in cues] == [["before"], ["after"]]
    assert cues[0].end <= 5.0


def test_overlapping_segments_do_not_make_overlapping_cues() -> None:
    transcript = Transcript(
        language="en",
        segments=[
            Segment(start=0.0, end=4.0, text="first segment words"),
            Segment(start=3.0, end=6.0, text="second segment words"),
            Segment(start=3.0, end=3.0, text="instant"),
        ],
    )
    cues = build_cues(transcript)
    _assert_limits(cues)
    assert _cue_words(cues) == transcript.text().split()


def test_short_cues_are_held_for_the_minimum_duration_when_room_allows() -> None:
    transcript = Transcript(
        language="en",
        segments=[
            Segment(start=0.0, end=0.2, text="Hi."),
            Segment(start=0.5, end=2.0, text="Yes."),
        ],
    )
    cues = build_cues(transcript, min_duration=1.0)
    assert cues[0].end == pytest.approx(0.5)
    assert cues[1].end == pytest.approx(2.0)


_SRT_BLOCK = re.compile(
    r"(\d+)\n(\d\d:\d\d:\d\d,\d\d\d) --> (\d\d:\d\d:\d\d,\d\d\d)\n((?:[^\n]+\n)+)"
)


def test_srt_is_well_formed() -> None:
    cues = [
        Cue(0.0, 1.5, ["Hello", "world"]),
        Cue(3661.25, 3662.0, ["a --> b"]),
    ]
    srt = to_srt(cues)
    assert srt == (
        "1\n00:00:00,000 --> 00:00:01,500\nHello\nworld\n\n"
        "2\n01:01:01,250 --> 01:01:02,000\na → b\n"
    )
    blocks = srt.split("\n\n")
    assert all(_SRT_BLOCK.fullmatch(b if b.endswith("\n") else b + "\n") for b in blocks)


def test_vtt_is_well_formed() -> None:
    vtt = to_vtt([Cue(0.0, 1.5, ["x < y & z"]), Cue(2.0, 3.0, ["two"])])
    assert vtt == (
        "WEBVTT\n\n"
        "00:00:00.000 --> 00:00:01.500\nx &lt; y &amp; z\n\n"
        "00:00:02.000 --> 00:00:03.000\ntwo\n"
    )


def test_whole_transcript_to_srt_round_trips_its_words() -> None:
    transcript = Transcript(
        language="en",
        segments=[
            Segment(start=i * 9.0, end=i * 9.0 + 8.0, text=_unpunctuated(i, 40)) for i in range(5)
        ],
    )
    srt = to_srt(build_cues(transcript))
    texts = [m.group(4) for m in _SRT_BLOCK.finditer(srt)]
    assert " ".join(texts).split() == transcript.text().split()


def test_the_last_cue_ends_with_the_video() -> None:
    transcript = Transcript(
        language="en",
        segments=[
            Segment(start=3590.0, end=3594.0, text="And that is all for today."),
            Segment(start=3599.70, end=3599.95, text="Thanks."),
        ],
    )
    cues = build_cues(transcript, duration=3600.0)
    assert cues[-1].lines == ["Thanks."]
    assert cues[-1].end == pytest.approx(3600.0)
    assert to_srt(cues).endswith("00:59:59,700 --> 01:00:00,000\nThanks.\n")
    assert to_vtt(cues).endswith("00:59:59.700 --> 01:00:00.000\nThanks.\n")


def test_words_placed_past_the_end_of_the_video_get_no_cue() -> None:
    words = [
        Word(start=58.2, end=58.9, word="Goodbye"),
        Word(start=58.9, end=59.6, word="everyone."),
        Word(start=60.0, end=60.4, word="Music"),
        Word(start=61.0, end=61.5, word="plays."),
    ]
    transcript = Transcript(
        language="en",
        segments=[
            Segment(start=58.2, end=59.6, text="Goodbye everyone.", words=words[:2]),
            Segment(start=60.0, end=61.5, text="Music plays.", words=words[2:]),
        ],
    )
    cues = build_cues(transcript, duration=60.0)
    assert _cue_words(cues) == ["Goodbye", "everyone."]
    assert all(cue.end <= 60.0 for cue in cues)
    _assert_limits(cues)


def test_a_cue_straddling_the_end_is_cut_at_the_end() -> None:
    transcript = Transcript(
        language="en", segments=[Segment(start=8.0, end=12.0, text="The engine overran.")]
    )
    (cue,) = build_cues(transcript, duration=10.0)
    assert (cue.start, cue.end) == (pytest.approx(8.0), pytest.approx(10.0))
