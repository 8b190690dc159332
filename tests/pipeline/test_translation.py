"""Translated subtitles keep every cue's time and the 42×2 / 7 s rules; answers are checked."""

from __future__ import annotations

import itertools
import json

import pytest

from pipeline.subtitles import Cue, to_srt, to_vtt, width
from pipeline.translation import (
    Batch,
    Invalid,
    default_target,
    fit_cue,
    fit_translation,
    make_batches,
    parse_srt,
    read_answer,
    request_json,
)

CUES = [
    Cue(1.0, 3.5, ["Добрый день, сегодня мы говорим"]),
    Cue(3.5, 7.0, ["о дискретизации сигналов", "и о том, как её выбирать."]),
    Cue(8.0, 9.0, ["Вопросы?"]),
]


def _answer(*texts: str, first: int = 1) -> str:
    return json.dumps({"cues": [{"id": first + i, "text": t} for i, t in enumerate(texts)]})


def test_subtitles_written_are_read_back_cue_for_cue() -> None:
    assert parse_srt(to_srt(CUES)) == CUES
    assert parse_srt(to_vtt(CUES)) == CUES


def test_the_other_of_russian_and_english_is_the_usual_target() -> None:
    assert default_target("ru") == "en"
    assert default_target("en") == "ru"
    assert default_target("en-US") == "ru"
    assert default_target("de") == "en"


def test_batches_hold_at_most_the_size_with_context_either_side() -> None:
    texts = [f"cue {i}" for i in range(1, 101)]
    batches = make_batches(texts, size=40, context=3)
    assert [len(b.texts) for b in batches] == [40, 40, 20]
    assert batches[0].before == () and batches[0].after == ("cue 41", "cue 42", "cue 43")
    assert batches[1].ids[0] == 41 and batches[1].before == ("cue 38", "cue 39", "cue 40")
    assert batches[2].after == ()
    sent = json.loads(request_json(batches[1], "Russian", "English"))
    assert sent["from"] == "Russian" and sent["to"] == "English"
    assert sent["cues"][0] == {"id": 41, "text": "cue 41"} and len(sent["cues"]) == 40


def _batch() -> Batch:
    return make_batches([" ".join(c.lines) for c in CUES])[0]


def test_a_good_answer_maps_back_by_id_in_order() -> None:
    content = json.dumps(
        {
            "cues": [
                {"id": 2, "text": "about sampling signals and how to choose it."},
                {"id": 1, "text": "Good afternoon, today we talk"},
                {"id": "3", "text": "Questions?"},
            ]
        }
    )
    texts = read_answer(f"```json\n{content}\n```", _batch(), "en", "English")
    assert texts == [
        "Good afternoon, today we talk",
        "about sampling signals and how to choose it.",
        "Questions?",
    ]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("Sure! Here you go", "not valid JSON"),
        ("", "empty"),
        ('{"translation": []}', '"cues" list'),
        (_answer("Good afternoon, today we talk about sampling."), "expected 3 cues"),
        (_answer("a", "b", "c", first=5), "not one of 1 to 3"),
        (json.dumps({"cues": [{"id": 1, "text": "x"}] * 3}), "comes twice"),
        (_answer("Good afternoon", "", "Questions?"), 'cue 2 has no "text"'),
        (
            _answer("Добрый день, сегодня", "о дискретизации сигналов", "Вопросы?"),
            "not in English",
        ),
    ],
)
def test_an_unusable_answer_says_what_is_wrong(content: str, problem: str) -> None:
    with pytest.raises(Invalid, match=problem):
        read_answer(content, _batch(), "en", "English")


def test_a_cue_left_in_the_source_language_is_named() -> None:
    sources = [
        "Добрый день, сегодня мы говорим о сигналах",
        "о дискретизации сигналов и о том, как её выбирать.",
        "Потом об алиасинге и о фильтрах перед АЦП",
        "и наконец о том, что бывает без фильтра.",
    ]
    texts = [
        "Good afternoon, today we talk about signals",
        sources[1],
        "Then about aliasing and the filters before the ADC",
        "and finally about what happens without a filter.",
    ]
    with pytest.raises(Invalid, match="cue 2 was left untranslated"):
        read_answer(_answer(*texts), make_batches(sources)[0], "en", "English")


def test_cues_copied_back_in_the_same_script_are_not_a_translation() -> None:
    texts = ["We talk about sampling today.", "And then about aliasing, briefly."]
    batch = make_batches(texts)[0]
    with pytest.raises(Invalid, match="copied, not translated into German"):
        read_answer(_answer(*texts), batch, "de", "German")


def test_a_translation_that_fits_keeps_the_cue_exactly() -> None:
    fitted = fit_translation(
        CUES, ["Good afternoon, today we talk", "about sampling signals", "Questions?"]
    )
    assert [(c.start, c.end) for c in fitted] == [(c.start, c.end) for c in CUES]
    assert fitted[0].lines == ["Good afternoon, today we talk"]


def test_a_longer_translation_is_split_within_the_cue_time_and_the_limits() -> None:
    long = (
        "This is a much longer sentence in the translation, because some languages say "
        "the same thing with many more words than others do, and the reader still needs "
        "every one of them on the screen in time."
    )
    cue = Cue(10.0, 16.5, ["Коротко."])
    pieces = fit_cue(cue, long)
    assert len(pieces) >= 2
    assert pieces[0].start == 10.0 and pieces[-1].end == 16.5
    for before, after in itertools.pairwise(pieces):
        assert before.end == after.start
    for piece in pieces:
        assert len(piece.lines) <= 2
        assert all(width(line) <= 42 for line in piece.lines)
        assert 0 < piece.end - piece.start <= 7.0
    assert " ".join(" ".join(p.lines) for p in pieces) == long


def test_a_cue_longer_than_seven_seconds_is_shared_out() -> None:
    pieces = fit_cue(Cue(0.0, 12.0, ["…"]), "Short words here, and more of them after a pause.")
    assert len(pieces) >= 2
    assert all(p.end - p.start <= 7.0 for p in pieces)
    assert pieces[-1].end == 12.0


def test_two_lines_break_where_they_read_best() -> None:
    [cue] = fit_cue(
        Cue(0.0, 4.0, ["x"]), "Сегодня мы поговорим о сигналах, и о том, как их измерять"
    )
    assert len(cue.lines) == 2
    assert cue.lines[0].endswith(",")
    assert all(width(line) <= 42 for line in cue.lines)


def test_text_without_spaces_is_broken_within_the_line_limit() -> None:
    text = "今日はサンプリングについて話します。" * 6
    pieces = fit_cue(Cue(0.0, 6.0, ["x"]), text)
    assert "".join("".join(p.lines) for p in pieces) == text
    assert all(width(line) <= 42 for p in pieces for line in p.lines)
    assert all(len(p.lines) <= 2 for p in pieces)
