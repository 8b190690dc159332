"""Key terms as typed, stored and merged, and the gate's clue: a segment that is mostly the
vocabulary, judged by the acoustic evidence (speech frames, silences), never by its words alone."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from integrations.stt.vocabulary import ECHO_MIN_SPEECH, echoed, fit
from pipeline.templates import Template
from pipeline.terms import (
    MAX_TERM_CHARS,
    MAX_TERMS,
    TermsError,
    clean_terms,
    echo_flags,
    merged,
    parse_terms,
)
from pipeline.transcript import Segment, Transcript

TERMS = ["Dijkstra", "Kolmogorov", "Levenshtein"]
RU_TERMS = ["Дейкстра", "Колмогоров", "Левенштейн"]


def test_a_typed_list_is_split_cleaned_and_each_term_kept_once() -> None:
    typed = ' Dijkstra,  "Kolmogorov";\nLevenshtein  distance , dijkstra, ,«Дейкстра».'
    assert parse_terms(typed) == ["Dijkstra", "Kolmogorov", "Levenshtein distance", "Дейкстра"]
    assert parse_terms("-") == parse_terms("  ") == []
    assert parse_terms(".NET, C++, Node.js.") == [".NET", "C++", "Node.js"]


def test_a_list_that_breaks_a_rule_is_refused_with_the_reason() -> None:
    with pytest.raises(TermsError) as long:
        parse_terms("Dijkstra, " + "x" * (MAX_TERM_CHARS + 1))
    assert long.value.code == "too_long" and long.value.term == "x" * (MAX_TERM_CHARS + 1)
    with pytest.raises(TermsError) as many:
        parse_terms(", ".join(f"t{i}" for i in range(MAX_TERMS + 1)))
    assert many.value.code == "too_many" and many.value.count == MAX_TERMS + 1


def test_stored_lists_are_read_forgivingly_and_merged_in_order() -> None:
    assert clean_terms(["Dijkstra", 5, "x" * 100, "  Kolmogorov "]) == ["Dijkstra", "Kolmogorov"]
    assert clean_terms("Dijkstra") == clean_terms(None) == []
    assert merged(TERMS, ["BFS", "dijkstra"]) == [*TERMS, "BFS"]
    assert len(merged([f"a{i}" for i in range(80)], [f"b{i}" for i in range(80)])) == MAX_TERMS


def test_a_template_holds_at_most_the_terms_a_list_may() -> None:
    assert Template(name="Algorithms", terms=TERMS).terms == TERMS
    with pytest.raises(ValidationError):
        Template(name="Algorithms", terms=[f"t{i}" for i in range(MAX_TERMS + 1)])
    with pytest.raises(ValidationError):
        Template(name="Algorithms", terms=["x" * (MAX_TERM_CHARS + 1)])


@pytest.mark.parametrize(("terms", "lead"), [(TERMS, "Glossary:"), (RU_TERMS, "Глоссарий:")])
def test_the_prompt_keeps_the_first_terms_whole(terms: list[str], lead: str) -> None:
    prompt = fit(terms)
    assert prompt.text == f"{lead} " + ", ".join(terms) + "."
    assert prompt.dropped == ()
    tight = fit(terms, budget=12)
    assert tight.kept == tuple(terms[: len(tight.kept)]) and tight.dropped
    assert fit([]).text == ""
    # The lead word follows the script most of the terms are in.
    assert fit(["Dijkstra", "Дейкстра", "Колмогоров"]).text.startswith("Глоссарий: ")
    assert fit(["Dijkstra", "Kolmogorov", "Дейкстра"]).text.startswith("Glossary: ")


@pytest.mark.parametrize("terms", [TERMS, RU_TERMS])
def test_the_terms_said_over_silence_are_flagged_and_a_sentence_using_them_is_not(
    terms: list[str],
) -> None:
    echo = ", ".join(terms) + "."
    sentence = f"Today we prove that {terms[0]} finds the shortest path in a graph."
    transcript = Transcript(
        language="en",
        segments=[
            Segment(start=0.0, end=4.0, text=sentence),
            Segment(start=4.5, end=6.0, text=terms[1] + "."),
            Segment(start=20.0, end=23.0, text=echo),
        ],
    )
    flags = echo_flags(transcript, terms, [(8.0, 30.0)])
    assert [(f.code, f.start) for f in flags] == [("vocabulary_echo", 20.0)]
    # No silences known, or no vocabulary: nothing to judge by.
    assert echo_flags(transcript, terms, []) == []
    assert echo_flags(transcript, [], [(8.0, 30.0)]) == []


def test_the_engine_gate_keeps_the_vocabulary_only_where_it_hears_speech() -> None:
    hop = 0.032
    frames = int(10 / hop)
    probabilities = np.zeros(frames, dtype=np.float32)
    probabilities[: int(5 / hop)] = 0.9  # speech for five seconds, then music or silence
    said = Segment(start=1.0, end=2.0, text="Dijkstra.")
    echo = Segment(start=6.0, end=9.0, text="Dijkstra, Kolmogorov, Levenshtein.")
    sentence = Segment(start=6.0, end=9.0, text="And now the proof of the main lemma.")
    assert not echoed(said, TERMS, probabilities, hop, 0.5)
    assert echoed(echo, TERMS, probabilities, hop, 0.5)
    # Not the vocabulary: whether it was spoken is the engine's usual test, not this one.
    assert not echoed(sentence, TERMS, probabilities, hop, 0.5)
    assert not echoed(echo, [], probabilities, hop, 0.5)
    # Half speech is enough evidence.
    half = probabilities.copy()
    half[int(6 / hop) : int(7.6 / hop)] = 0.9
    assert ECHO_MIN_SPEECH <= 0.5
    assert not echoed(echo, TERMS, half, hop, 0.5)
