"""Self-check questions of a lecture from the language model: asked, checked, repaired once.

Rules it keeps:

- One request per lecture: the chapters with their times and the transcript as
  ``[HH:MM:SS] text`` lines, at most ``max_chars`` characters of them (a longer lecture
  keeps every n-th line, evenly over its length), so any lecture fits one request.
- The answer must be one JSON object in the shape of :data:`SHAPE` with
  :data:`~pipeline.questions.MIN_GENERATED` to :data:`~pipeline.questions.MAX_GENERATED`
  questions (more are cut to the first five), each within Telegram's quiz limits
  (`pipeline.questions.question_problems`), timed inside the video, and written in the
  script of the lecture's language (`integrations.llm.summary`'s script rule).
- An unusable answer gets one repair request that says exactly what was wrong; a second
  unusable answer raises :class:`QuestionsError` with code ``invalid``. Service faults keep
  the :class:`TopicsError` codes (``auth``, ``unavailable``...) and are raised as
  QuestionsError with the same code.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

from openai import AsyncOpenAI

from integrations import ai_retry
from integrations.ai_retry import Backoff
from integrations.llm.chat import Chat, TopicsError
from integrations.llm.prompts import language_name
from integrations.llm.reply import parse_time
from integrations.llm.summary import CYRILLIC, LATIN
from pipeline.questions import (
    MAX_EXPLANATION_CHARS,
    MAX_GENERATED,
    MAX_OPTION_CHARS,
    MAX_QUESTION_CHARS,
    MIN_GENERATED,
    Question,
    one_line,
    question_problems,
)
from pipeline.timecodes import format_hms
from pipeline.topics import Topics
from pipeline.transcript import Transcript

log = logging.getLogger(__name__)

INVALID = "invalid"
# Most letters of the questions must be of the lecture language's script.
_SCRIPT_SHARE = 0.6
OPTIONS_ASKED = 4
# A repair request repeats the request with the answer before and its problem: this much of
# ``max_chars`` is kept free for them, so no request is longer than ``max_chars``.
_REPAIR_ROOM = 7000
_ANSWER_SHOWN = 6000
_PROBLEM_SHOWN = 600

SHAPE = (
    '{"questions": [{"question": "...", "options": ["...", "...", "...", "..."], '
    '"correct": 0, "explanation": "...", "at": "HH:MM:SS"}]}'
)

SYSTEM = f"""You write self-check questions for students who watched a lecture.
Each transcript line is "[HH:MM:SS] text", the time on the video where the line is said.

Answer with one JSON object and nothing else, in this shape:
{SHAPE}

Rules:
- {MIN_GENERATED} to {MAX_GENERATED} multiple-choice questions on the lecture's main ideas, in
  the order the lecture covers them. Write everything in {{language}}.
- "question": at most {MAX_QUESTION_CHARS} characters.
- "options": {OPTIONS_ASKED} short answers (between 2 and 10), each at most {MAX_OPTION_CHARS}
  characters, all different; exactly one is right.
- "correct": the index (from 0) of the right option in "options".
- "explanation": one line, at most {MAX_EXPLANATION_CHARS} characters, on why it is right.
- "at": copied from the transcript line where the lecture covers the answer."""


class QuestionsError(Exception):
    """No usable questions; ``code`` is ``invalid`` or one of the topics model's codes."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


def lecture_request(transcript: Transcript, topics: Topics, duration: float, max_chars: int) -> str:
    """The user message: the chapters, then transcript lines within ``max_chars`` in all."""
    head = [f"Lecture length: {format_hms(duration)}."]
    if topics.topics:
        head.append("Chapters:")
        head += [f"[{format_hms(t.start)}] {one_line(t.title)}" for t in topics.topics[:40]]
    head.append("")
    head.append("Transcript:")
    opening = "\n".join(head) + "\n"
    room = max(max_chars - len(opening), 200)
    lines = [f"[{format_hms(start)}] {text}"[:room] for start, text in transcript.sentences()]
    total = sum(len(line) + 1 for line in lines)
    if total > room:
        # Every n-th line, so the whole lecture is seen, not only its beginning.
        step = -(-total // room)
        lines = lines[::step]
        while lines and sum(len(line) + 1 for line in lines) > room:
            lines.pop()
    return opening + "\n".join(lines)


def script_problem(text: str, language: str) -> str | None:
    """Why ``text`` is not in the script of ``language``; None when it is, or cannot be told."""
    code = language.split("-")[0].lower()
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return None
    cyrillic = sum(1 for c in letters if "\u0400" <= c <= "\u04ff") / len(letters)
    latin = sum(1 for c in letters if c.isascii()) / len(letters)
    if (code in CYRILLIC and cyrillic < _SCRIPT_SHARE) or (code in LATIN and latin < _SCRIPT_SHARE):
        return f"the questions are not in {language_name(language)}, the language of the lecture"
    return None


def read_answer(content: str | None, language: str, duration: float) -> list[Question]:
    """The model's questions; raises ValueError saying what is wrong (it goes back to the model)."""
    text = (content or "").strip()
    fenced = re.fullmatch(r"```(?:json|JSON)?\s*(.*?)\s*```", text, flags=re.DOTALL)
    if fenced:
        text = fenced.group(1)
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"the reply is not valid JSON ({exc})") from None
    items = data.get("questions") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ValueError('the reply must be an object with a "questions" list')
    if len(items) < MIN_GENERATED:
        raise ValueError(
            f"there are {len(items)} questions; write {MIN_GENERATED} to {MAX_GENERATED}"
        )
    questions = [_question(item, n, duration) for n, item in enumerate(items[:MAX_GENERATED], 1)]
    words = " ".join(" ".join([q.question, *q.options, q.explanation]) for q in questions)
    problem = script_problem(words, language)
    if problem:
        raise ValueError(problem)
    return questions


def _question(item: Any, number: int, duration: float) -> Question:
    where = f"question {number}"
    if not isinstance(item, dict):
        raise ValueError(f"{where} is not an object")
    text, options = item.get("question"), item.get("options")
    correct, explanation = item.get("correct"), item.get("explanation") or ""
    if not isinstance(text, str) or not isinstance(explanation, str):
        raise ValueError(f'{where}: "question" and "explanation" must be strings')
    if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
        raise ValueError(f'{where}: "options" must be a list of strings')
    if isinstance(correct, bool) or not isinstance(correct, int):
        raise ValueError(f'{where}: "correct" must be the index of the right option')
    try:
        at: float | None = min(max(parse_time(item.get("at")), 0.0), duration)
    except ValueError:
        at = None
    question = Question(
        question=one_line(text),
        options=[one_line(o) for o in options],
        correct=correct,
        explanation=one_line(explanation),
        at=at,
    )
    problems = question_problems(question, number)
    if problems:
        raise ValueError(f"{where}: " + "; ".join(_said(p.code) for p in problems))
    return question


_SAID = {
    "no_question": '"question" is empty',
    "question_long": f'"question" is longer than {MAX_QUESTION_CHARS} characters',
    "option_count": '"options" must hold 2 to 10 answers',
    "option_empty": "an option is empty",
    "option_long": f"an option is longer than {MAX_OPTION_CHARS} characters",
    "option_twice": "two options are the same",
    "no_right": '"correct" is not the index of an option',
    "explanation_long": f'"explanation" is longer than {MAX_EXPLANATION_CHARS} characters',
    "explanation_lines": '"explanation" must be one line',
}


def _said(code: str) -> str:
    return _SAID.get(code, code)


async def make_questions(
    transcript: Transcript,
    topics: Topics,
    duration: float,
    *,
    base_url: str,
    api_key: str | None,
    model: str,
    language: str,
    max_chars: int = 24_000,
    max_attempts: int = 3,
    backoff_base: float = 1.0,
    backoff_cap: float = 30.0,
    timeout: float = 120.0,
    temperature: float = 0.3,
    client_factory: Callable[[], AsyncOpenAI] | None = None,
) -> list[Question]:
    """Three to five checked questions on the lecture, in ``language``; raises QuestionsError."""

    def default_client() -> AsyncOpenAI:
        return ai_retry.client(base_url, api_key, timeout)

    named = language_name(language)
    system = SYSTEM.replace("{language}", named)
    user = lecture_request(transcript, topics, duration, max(max_chars - _REPAIR_ROOM, 2000))
    async with (client_factory or default_client)() as client:
        chat = Chat(
            client,
            model=model,
            temperature=temperature,
            backoff=Backoff(max_attempts=max_attempts, base=backoff_base, cap=backoff_cap),
        )
        try:
            content = await chat.reply(system, user)
            try:
                return read_answer(content, language, duration)
            except ValueError as first:
                problem = str(first)
            log.info("questions unusable (%s); asking for a repair", problem)
            repair = (
                f"{user}\n\nYour answer before:\n{(content or '-')[:_ANSWER_SHOWN]}\n\n"
                f"That answer cannot be used: {problem[:_PROBLEM_SHOWN]}. Answer again with "
                f"only the JSON object in the required shape, everything in {named}."
            )
            content = await chat.reply(system, repair)
        except TopicsError as exc:
            raise QuestionsError(exc.code, exc.detail) from None
    try:
        return read_answer(content, language, duration)
    except ValueError as second:
        log.warning("questions still unusable after a repair request (%s)", second)
        raise QuestionsError(INVALID, str(second)) from None
