"""Subtitles of a Russian lecture: lines counted in letters, broken where a reader expects."""

from __future__ import annotations

import random
import unicodedata

from pipeline.subtitles import Cue, build_cues, to_srt
from pipeline.transcript import Segment, Transcript, Word

_CLINGING = {"в", "к", "с", "о", "и", "а", "у"}
_PHRASES = [
    "в этой лекции",
    "мы говорим о градиентном спуске",
    "и о том, как выбрать шаг",
    "к примеру",
    "с небольшим шагом",
    "у функции потерь",
    "а иногда",
    "в самом начале обучения",
    "регуляризация помогает",
    "сеть переобучается",
    "о весах модели",
    "и смещениях",
    "к концу эпохи",
    "с другой стороны",
]


def _russian_transcript(seed: int, phrases: int) -> Transcript:
    rng = random.Random(seed)
    text = " ".join(rng.choice(_PHRASES) for _ in range(phrases)).capitalize() + "."
    tokens = text.split()
    words = [Word(start=i * 0.35, end=i * 0.35 + 0.3, word=token) for i, token in enumerate(tokens)]
    return Transcript(
        language="ru", segments=[Segment(start=0.0, end=words[-1].end, text=text, words=words)]
    )


def _words(cues: list[Cue]) -> list[str]:
    return " ".join(" ".join(c.lines) for c in cues).split()


def test_a_one_letter_preposition_never_ends_a_line_or_a_cue() -> None:
    for seed in range(12):
        transcript = _russian_transcript(seed, 60)
        cues = build_cues(transcript)
        assert _words(cues) == transcript.text().split()
        for cue in cues:
            assert 1 <= len(cue.lines) <= 2
            for line in cue.lines:
                assert len(line) <= 42, line
                assert line.split()[-1].casefold() not in _CLINGING, (seed, cue.lines)
            assert 0 < cue.end - cue.start <= 7.0


def test_two_lines_break_after_the_comma_rather_than_in_the_middle() -> None:
    text = "Сегодня мы поговорим о градиентном спуске, а затем перейдём к регуляризации."
    words = [Word(start=i * 0.4, end=i * 0.4 + 0.35, word=t) for i, t in enumerate(text.split())]
    transcript = Transcript(
        language="ru", segments=[Segment(start=0.0, end=words[-1].end, text=text, words=words)]
    )
    (cue,) = build_cues(transcript)
    assert cue.lines == [
        "Сегодня мы поговорим о градиентном спуске,",
        "а затем перейдём к регуляризации.",
    ]


def test_a_line_breaks_before_a_conjunction_when_there_is_no_comma() -> None:
    text = "Нейронная сеть быстро запоминает примеры и плохо обобщает новые данные"
    transcript = Transcript(language="ru", segments=[Segment(start=0.0, end=6.0, text=text)])
    (cue,) = build_cues(transcript)
    assert cue.lines == [
        "Нейронная сеть быстро запоминает примеры",
        "и плохо обобщает новые данные",
    ]


def test_decomposed_letters_count_once_and_come_out_composed() -> None:
    # "й" and "ё" typed as a letter plus a combining mark: 44 code points, 40 letters.
    text = unicodedata.normalize("NFD", "Мой новый подход к своей задаче объяснён")
    assert len(text) > len(unicodedata.normalize("NFC", text))
    transcript = Transcript(language="ru", segments=[Segment(start=0.0, end=4.0, text=text)])
    cues = build_cues(transcript, max_chars_per_line=len(unicodedata.normalize("NFC", text)))
    assert [c.lines for c in cues] == [[unicodedata.normalize("NFC", text)]]
    assert "й" in to_srt(cues) and unicodedata.is_normalized("NFC", to_srt(cues))


def test_a_preposition_before_a_pause_or_a_segment_end_waits_for_its_word() -> None:
    words = [
        Word(start=0.0, end=0.5, word="Сначала"),
        Word(start=0.5, end=0.8, word="в"),
        Word(start=2.8, end=3.4, word="лаборатории"),
        Word(start=3.4, end=4.0, word="мы"),
        Word(start=4.0, end=4.2, word="и"),
    ]
    transcript = Transcript(
        language="ru",
        segments=[
            Segment(start=0.0, end=4.2, text="Сначала в лаборатории мы и", words=words),
            Segment(start=4.5, end=6.0, text="коллеги проверили данные."),
        ],
    )
    cues = build_cues(transcript)
    assert _words(cues) == transcript.text().split()
    assert [c.lines for c in cues] == [
        ["Сначала"],
        ["в лаборатории мы"],
        ["и коллеги проверили данные."],
    ]
