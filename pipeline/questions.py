"""Self-check questions of a lecture: the model, Telegram's quiz limits, the list a person edits.

Rules it keeps:

- A question holds at most :data:`MAX_QUESTION_CHARS` characters, 2 to 10 distinct options of
  at most :data:`MAX_OPTION_CHARS` each, exactly one right option (``correct``, its index), a
  one-line explanation of at most :data:`MAX_EXPLANATION_CHARS` and, where known, the time on
  the video where the lecture covers it. These are the limits of a Telegram quiz poll, counted
  as Telegram counts (UTF-16 code units), so a question that passes :func:`question_problems`
  can always be sent as one.
- A lecture has at most :data:`MAX_QUESTIONS` questions; the language model is asked for
  :data:`MIN_GENERATED` to :data:`MAX_GENERATED`.
- One text form is shown in the chat and read back when a person pastes a corrected list
  (:func:`questions_text`, :func:`parse_questions`)::

      1. [00:03:15] What do plants make from light?
      ✅ Sugar
      ▫️ Salt
      💡 Photosynthesis turns light into sugar.

  A question line starts with its number; its time, in brackets, may be left out. An option
  line starts with ✅ or ``+`` (the right one) or ▫️ or ``-`` (a wrong one); the explanation
  line with 💡 or ``>``. What is wrong is reported as :class:`QuestionListError` with codes the
  bot translates, each with the question's number.
- Texts are kept as typed: no HTML; whoever shows them escapes them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pipeline.timecodes import format_tc, parse_tc

MAX_QUESTION_CHARS = 300
MIN_OPTIONS, MAX_OPTIONS = 2, 10
MAX_OPTION_CHARS = 100
MAX_EXPLANATION_CHARS = 200
MIN_GENERATED, MAX_GENERATED = 3, 5
MAX_QUESTIONS = 10
# A pasted list longer than this cannot be ten questions within the limits.
MAX_PASTE_CHARS = 20_000

RIGHT, WRONG, WHY = "✅", "▫️", "💡"
_RIGHT_MARKS = ("✅", "✔️", "✔", "+")
_WRONG_MARKS = ("▫️", "▫", "◽️", "◽", "-", "–", "—", "•")
_WHY_MARKS = ("💡", ">")
_QUESTION_LINE = re.compile(
    r"^(?P<number>\d{1,2})\s*[.)]\s*(?:[\[(](?P<tc>\d{1,4}(?::\d{1,2}){1,2})[\])]\s*)?(?P<text>.*)$"
)


class Question(BaseModel):
    """One self-check question as a Telegram quiz poll can carry it."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    question: str
    options: list[str]
    correct: int
    explanation: str = ""
    at: float | None = Field(default=None, ge=0)

    @property
    def answer(self) -> str:
        return self.options[self.correct]


@dataclass(frozen=True, slots=True)
class Problem:
    """What is wrong with one question (``number`` from 1; 0 for the list as a whole)."""

    number: int
    code: str
    limit: int = 0


class QuestionListError(ValueError):
    """A list of questions that cannot be used; ``problems`` says which and why."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(", ".join(f"{p.code}@{p.number}" for p in problems[:10]))


def one_line(text: str) -> str:
    return " ".join(text.split())


def units(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji may count two)."""
    return len(text.encode("utf-16-le")) // 2


def question_problems(question: Question, number: int = 1) -> list[Problem]:
    """Everything that keeps ``question`` from being a Telegram quiz poll; [] when it is fine."""
    found: list[Problem] = []
    if not question.question.strip():
        found.append(Problem(number, "no_question"))
    elif units(question.question) > MAX_QUESTION_CHARS:
        found.append(Problem(number, "question_long", MAX_QUESTION_CHARS))
    options = question.options
    if not MIN_OPTIONS <= len(options) <= MAX_OPTIONS:
        found.append(Problem(number, "option_count", len(options)))
    if any(not o.strip() for o in options):
        found.append(Problem(number, "option_empty"))
    if any(units(o) > MAX_OPTION_CHARS for o in options):
        found.append(Problem(number, "option_long", MAX_OPTION_CHARS))
    if len({o.strip().casefold() for o in options}) != len(options):
        found.append(Problem(number, "option_twice"))
    if not 0 <= question.correct < len(options):
        found.append(Problem(number, "no_right"))
    if units(question.explanation) > MAX_EXPLANATION_CHARS:
        found.append(Problem(number, "explanation_long", MAX_EXPLANATION_CHARS))
    if "\n" in question.explanation:
        found.append(Problem(number, "explanation_lines"))
    return found


def list_problems(questions: Sequence[Question]) -> list[Problem]:
    found: list[Problem] = []
    if not questions:
        found.append(Problem(0, "empty"))
    if len(questions) > MAX_QUESTIONS:
        found.append(Problem(0, "too_many", MAX_QUESTIONS))
    for number, question in enumerate(questions, 1):
        found += question_problems(question, number)
    return found


def questions_text(questions: Iterable[Question]) -> str:
    """The list as the chat shows it and as a person pastes it back (see the module)."""
    blocks = []
    for number, question in enumerate(questions, 1):
        when = f"[{format_tc(question.at, always_hours=True)}] " if question.at is not None else ""
        lines = [f"{number}. {when}{question.question}"]
        lines += [
            f"{RIGHT if i == question.correct else WRONG} {option}"
            for i, option in enumerate(question.options)
        ]
        if question.explanation:
            lines.append(f"{WHY} {question.explanation}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def template_text(questions: Iterable[Question]) -> str:
    """``{{ questions }}`` of a template: each question with its time, options and answer."""
    return questions_text(questions)


def media_text(media: Mapping[str, Any]) -> str:
    """``{{ questions }}`` for a recording whose media are ``media``; "" when it has none."""
    stored = media.get("questions")
    items = stored.get("items") if isinstance(stored, Mapping) else None
    return template_text(load_questions(items))


def poll_explanation(question: Question) -> str:
    """The quiz's explanation, with the time it is covered at when that still fits."""
    text = question.explanation
    if question.at is None:
        return text
    when = f"⏱ {format_tc(question.at)}"
    joined = f"{text} {when}" if text else when
    return joined if units(joined) <= MAX_EXPLANATION_CHARS else text


def parse_questions(text: str) -> list[Question]:
    """A pasted list in the form :func:`questions_text` writes; raises QuestionListError."""
    if len(text) > MAX_PASTE_CHARS:
        raise QuestionListError([Problem(0, "too_long", MAX_PASTE_CHARS)])
    drafts: list[dict[str, Any]] = []
    problems: list[Problem] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        matched = _QUESTION_LINE.match(line)
        mark, rest = _marked(line)
        if matched and mark is None:
            at: float | None = None
            if matched.group("tc"):
                try:
                    at = parse_tc(matched.group("tc"))
                except ValueError:
                    problems.append(Problem(len(drafts) + 1, "bad_time"))
            drafts.append(
                {"question": one_line(matched.group("text")), "options": [], "at": at, "why": []}
            )
            continue
        if not drafts:
            problems.append(Problem(1, "no_number"))
            continue
        draft = drafts[-1]
        if mark == RIGHT:
            draft.setdefault("right", []).append(len(draft["options"]))
            draft["options"].append(rest)
        elif mark == WRONG:
            draft["options"].append(rest)
        elif mark == WHY:
            draft["why"].append(rest)
        else:
            problems.append(Problem(len(drafts), "unmarked"))
    questions: list[Question] = []
    for number, draft in enumerate(drafts, 1):
        right = draft.get("right", [])
        if len(right) != 1:
            problems.append(Problem(number, "no_right" if not right else "many_right"))
        if len(draft["why"]) > 1:
            problems.append(Problem(number, "explanation_lines"))
        question = Question(
            question=draft["question"],
            options=draft["options"],
            correct=right[0] if len(right) == 1 else 0,
            explanation=" ".join(draft["why"]),
            at=draft["at"],
        )
        problems += [p for p in question_problems(question, number) if p.code != "no_right"]
        questions.append(question)
    if not drafts:
        problems.append(Problem(0, "empty"))
    elif len(drafts) > MAX_QUESTIONS:
        problems.append(Problem(0, "too_many", MAX_QUESTIONS))
    if problems:
        raise QuestionListError(_ordered(problems))
    return questions


def _marked(line: str) -> tuple[str | None, str]:
    for marks, kind in ((_RIGHT_MARKS, RIGHT), (_WRONG_MARKS, WRONG), (_WHY_MARKS, WHY)):
        for mark in marks:
            if line.startswith(mark):
                return kind, one_line(line[len(mark) :])
    return None, line


def _ordered(problems: list[Problem]) -> list[Problem]:
    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=lambda p: p.number)


def load_questions(stored: object) -> list[Question]:
    """Questions as a recording's media keeps them; what does not read is left out."""
    found: list[Question] = []
    for item in stored if isinstance(stored, list) else []:
        try:
            found.append(Question.model_validate(item))
        except ValueError:
            continue
    return found


def dump_questions(questions: Iterable[Question]) -> list[dict[str, Any]]:
    return [q.model_dump() for q in questions]


def without(questions: Sequence[Question], index: int) -> list[Question]:
    """The list with the question at ``index`` (from 0) dropped."""
    return [q for i, q in enumerate(questions) if i != index]
