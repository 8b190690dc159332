"""A long silence between two parts of a lecture is where a chapter starts, before any shift
of words: misheard speech can shift the words inside a part, a silence cannot be misheard."""

from __future__ import annotations

from pathlib import Path

from pipeline.offline_topics import extract_topics
from pipeline.transcript import Segment, Transcript

# A part whose first and second halves were heard with different (misheard) words, as
# synthetic or accented speech is: a strong shift of vocabulary with no pause at all.
_PARTS = {
    "en": [
        ["tasintil plays the dema", "the dema is not boiled", "tasintil and the dema again"],
        ["assemdi lifts the kalistem", "assemdi cannot rastie", "so assemdi and the kalistem"],
        ["castles have towers and walls", "knights guard the castle walls", "towers of castles"],
        ["programs repeat commands", "programmers fix the program", "tests check programs"],
    ],
    "ru": [
        ["тасинтиль плачает и дема", "дема не варим никогда", "тасинтиль снова и дема"],
        ["ассемди поднимает калистем", "ассемди не могут расстье", "поэтому ассемди калистем"],
        ["замки строили с башнями", "рыцари охраняли стены замка", "башни замков высокие"],
        ["программы повторяют команды", "программисты исправляют программы", "тесты программы"],
    ],
}


def _lecture(language: str) -> tuple[Transcript, list[float]]:
    """Three parts of about 80 s of speech, each followed by 40 s of silence."""
    segments: list[Segment] = []
    starts: list[float] = []
    time = 1.0
    halves = _PARTS[language]
    for part in ([*halves[0], *halves[1]], halves[2] * 2, halves[3] * 2):
        starts.append(time)
        for _ in range(2):
            for text in part:
                segments.append(Segment(start=time, end=time + 5.0, text=text))
                time += 7.0
        time += 40.0
    return Transcript(language=language, segments=segments), starts


def test_chapters_start_after_the_long_silences_in_english_and_russian() -> None:
    for language in ("en", "ru"):
        transcript, starts = _lecture(language)
        topics = extract_topics(transcript, duration=transcript.segments[-1].end + 2.0)
        found = [t.start for t in topics.topics]
        assert len(found) == 3, (language, found)
        for start in starts[1:]:
            assert min(abs(at - start) for at in found) <= 0.5, (language, found)


def test_a_misheard_russian_lecture_is_cut_at_its_silences() -> None:
    # What the local engine heard of tests/bot/test_russian_lecture_e2e.py's lecture (espeak-ng
    # Russian, three parts from 0, 125 and 250 s, each ending in a long silence): the first
    # part came out as two sets of invented words, the strongest word shift in the lecture.
    data = (
        Path(__file__).parent.parent / "data/transcripts/espeak-ru-three-parts.json"
    ).read_text()
    transcript = Transcript.model_validate_json(data)
    topics = extract_topics(transcript, duration=339.5)
    found = [t.start for t in topics.topics]
    assert len(found) == 3, found
    for start in (125.0, 250.0):
        assert min(abs(at - start) for at in found) <= 2.0, found
