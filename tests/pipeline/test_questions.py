"""Self-check questions as a person reads and pastes them, within Telegram's quiz limits."""

from __future__ import annotations

import pytest

from pipeline.questions import (
    MAX_EXPLANATION_CHARS,
    Question,
    QuestionListError,
    media_text,
    parse_questions,
    poll_explanation,
    question_problems,
    questions_text,
    without,
)

SUGAR = Question(
    question="What do plants make from light?",
    options=["Sugar", "Salt", "Stone"],
    correct=0,
    explanation="Photosynthesis turns light into sugar.",
    at=195.0,
)
MOAT = Question(question="Что защищало замок?", options=["Сад", "Ров"], correct=1, at=None)


def codes(text: str) -> list[tuple[int, str]]:
    with pytest.raises(QuestionListError) as raised:
        parse_questions(text)
    return [(p.number, p.code) for p in raised.value.problems]


def test_the_shown_list_reads_back_as_the_same_questions() -> None:
    shown = questions_text([SUGAR, MOAT])
    assert shown.startswith("1. [0:03:15] What do plants make from light?\n✅ Sugar\n▫️ Salt")
    assert "💡 Photosynthesis turns light into sugar." in shown
    assert "2. Что защищало замок?\n▫️ Сад\n✅ Ров" in shown
    assert parse_questions(shown) == [SUGAR, MOAT]


def test_a_typed_list_may_use_plain_marks_and_leave_the_time_out() -> None:
    typed = "1) Which is a loop?\n - if\n + for\n > It repeats.\n\n2. [12:30] Next?\n+ yes\n- no"
    first, second = parse_questions(typed)
    assert first == Question(
        question="Which is a loop?", options=["if", "for"], correct=1, explanation="It repeats."
    )
    assert second.at == 750.0 and second.answer == "yes"


def test_what_is_wrong_is_named_with_the_questions_number() -> None:
    assert codes("Some words first\n1. Q?\n+ a\n- b") == [(1, "no_number")]
    assert codes("1. Q?\n+ a\n+ b\n2. R?\n- a\n- b") == [(1, "many_right"), (2, "no_right")]
    assert codes("1. Q?\n+ only one") == [(1, "option_count")]
    assert codes("1. Q?\n+ a\n- a") == [(1, "option_twice")]
    assert codes(f"1. Q?\n+ {'x' * 101}\n- b") == [(1, "option_long")]
    assert codes(f"1. {'Q' * 301}\n+ a\n- b") == [(1, "question_long")]
    assert codes(f"1. Q?\n+ a\n- b\n💡 {'w' * 201}") == [(1, "explanation_long")]
    assert codes("1. Q?\n+ a\n- b\njust words") == [(1, "unmarked")]
    assert codes("1. [0:99] Q?\n+ a\n- b") == [(1, "bad_time")]
    assert codes("") == [(0, "empty")]
    many = "\n".join(f"{n}. Q{n}?\n+ a\n- b" for n in range(1, 12))
    assert codes(many) == [(0, "too_many")]


def test_telegram_quiz_limits_are_the_questions_limits() -> None:
    eleven = SUGAR.model_copy(update={"options": [f"o{n}" for n in range(11)]})
    assert [p.code for p in question_problems(eleven)] == ["option_count"]
    wrong = SUGAR.model_copy(update={"correct": 3})
    assert [p.code for p in question_problems(wrong)] == ["no_right"]
    assert question_problems(SUGAR) == []
    # Telegram counts UTF-16 code units: an emoji beyond the plane takes two.
    emoji = SUGAR.model_copy(update={"question": "Q" * 299 + "🧪"})
    assert [p.code for p in question_problems(emoji)] == ["question_long"]


def test_the_quiz_explanation_names_the_time_when_it_fits() -> None:
    assert poll_explanation(SUGAR) == "Photosynthesis turns light into sugar. ⏱ 3:15"
    full = SUGAR.model_copy(update={"explanation": "w" * MAX_EXPLANATION_CHARS})
    assert poll_explanation(full) == "w" * MAX_EXPLANATION_CHARS
    assert poll_explanation(MOAT) == ""


def test_the_template_variable_comes_from_the_recordings_media() -> None:
    media = {"questions": {"llm": True, "items": [SUGAR.model_dump(), {"broken": 1}]}}
    assert media_text(media) == questions_text([SUGAR])
    assert media_text({}) == ""
    assert without([SUGAR, MOAT], 0) == [MOAT]
