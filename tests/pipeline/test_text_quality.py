import random
from dataclasses import dataclass

from pipeline.quality import Flag, check_transcript
from pipeline.transcript import Segment, Transcript

_WORDS = (
    "energy matrix vector derivative limit theorem proof series integral function "
    "graph node edge tree sorting memory cache network protocol packet signal noise "
    "sample average variance model error gradient descent learning rate batch layer"
).split()


def _clean(seconds: float = 600.0, wpm: float = 150.0, seed: int = 2) -> Transcript:
    rng = random.Random(seed)
    segments = []
    time = 0.0
    while time + 5.0 <= seconds:
        words = [rng.choice(_WORDS) for _ in range(round(wpm * 5.0 / 60.0))]
        segments.append(Segment(start=time, end=time + 4.8, text=" ".join(words) + "."))
        time += 5.0
    return Transcript(language="en", segments=segments)


def _codes(flags: list[Flag]) -> list[str]:
    return [f.code for f in flags]


def test_a_clean_transcript_raises_no_flags() -> None:
    transcript = _clean()
    silence = [(4.85, 4.95), (600.0, 650.0)]
    assert check_transcript(transcript, 650.0, silence) == []


def test_empty_transcripts_are_flagged_alone() -> None:
    empty = Transcript(language="en", segments=[Segment(start=0, end=3, text="  ")])
    assert _codes(check_transcript(empty, 600.0)) == ["empty"]
    assert _codes(check_transcript(Transcript(language="en", segments=[]), 60.0)) == ["empty"]


def test_a_looping_sentence_is_flagged_with_its_time() -> None:
    clean = _clean(300.0)
    loop = [
        Segment(start=300.0 + i * 2.0, end=301.5 + i * 2.0, text="Thank you for watching.")
        for i in range(15)
    ]
    transcript = Transcript(language="en", segments=[*clean.segments, *loop])
    flags = [f for f in check_transcript(transcript, 330.0) if f.code == "repeated_phrases"]
    assert len(flags) == 1
    assert flags[0].start == 300.0
    assert "thank you for watching" in flags[0].detail


def test_a_single_word_stutter_loop_is_flagged_but_emphasis_is_not() -> None:
    stutter = Transcript(
        language="en",
        segments=[Segment(start=0.0, end=10.0, text="and then " + "the " * 20 + "end")],
    )
    assert "repeated_phrases" in _codes(check_transcript(stutter, 10.0))
    emphasis = Transcript(
        language="en", segments=[Segment(start=0.0, end=3.0, text="No, no, no, no, we stop.")]
    )
    assert check_transcript(emphasis, 3.0) == []


def test_implausible_speaking_rates_are_flagged() -> None:
    fast = _clean(600.0, wpm=600.0)
    fast_flags = check_transcript(fast, 600.0)
    assert "implausible_wpm" in _codes(fast_flags)

    sparse = Transcript(
        language="en",
        segments=[Segment(start=i * 60.0, end=i * 60.0 + 2, text="okay then") for i in range(10)],
    )
    assert "implausible_wpm" in _codes(check_transcript(sparse, 600.0))


def test_a_skipped_stretch_is_flagged_but_a_silent_one_is_not() -> None:
    first = _clean(300.0)
    last = _clean(300.0, seed=9).shifted(600.0)
    transcript = Transcript(language="en", segments=[*first.segments, *last.segments])
    flags = check_transcript(transcript, 900.0)
    gaps = [f for f in flags if f.code == "implausible_wpm"]
    assert gaps and all(300.0 <= (f.start or 0.0) < 600.0 for f in gaps)

    assert check_transcript(transcript, 900.0, [(300.0, 600.0)]) == []


@dataclass(frozen=True)
class _Interval:
    start: float
    end: float


def test_text_in_silence_is_flagged_for_tuples_and_interval_objects() -> None:
    clean = _clean(300.0)
    ghost = Segment(start=310.0, end=313.0, text="Subscribe to the channel.")
    transcript = Transcript(language="en", segments=[*clean.segments, ghost])
    for silence in ([(300.0, 400.0)], [_Interval(300.0, 400.0)]):
        flags = [
            f for f in check_transcript(transcript, 400.0, silence) if f.code == "text_in_silence"
        ]
        assert [f.start for f in flags] == [310.0]
