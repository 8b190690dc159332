"""A language model for `FakeOpenAI.chat` that writes self-check questions and checks what it
is asked, the way a strict provider would.

`QuizModel` answers each chat request with the next of its scripted replies (strings, or
callables of the request body) and, for every request, notes in ``problems`` what a request
for questions must not be: without a system and a user message, without JSON mode, naming
another language than ``language`` for the answer, not showing the answer's JSON shape, or
longer than ``max_chars`` characters in all (the batch one request may carry). A test
asserts ``problems == []`` after its flow.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

LANGUAGE_NAMES = {"en": "English", "ru": "Russian"}

QUESTIONS = {
    "en": [
        ("What do plants make from light?", ["Sugar", "Salt", "Stone", "Iron"], 0, 30.0),
        ("What protected a castle?", ["A moat", "A garden", "A library", "A kitchen"], 0, 250.0),
        ("What does a loop do?", ["Nothing", "Repeats steps", "Deletes code", "Stops"], 1, 450.0),
        ("Which gas do leaves take in?", ["Oxygen", "Helium", "Carbon dioxide", "Neon"], 2, 650.0),
    ],
    "ru": [
        ("Что растения делают из света?", ["Сахар", "Соль", "Камень", "Железо"], 0, 30.0),
        ("Что защищало замок?", ["Ров", "Сад", "Библиотека", "Кухня"], 0, 250.0),
        ("Что делает цикл?", ["Ничего", "Повторяет шаги", "Удаляет код", "Стоп"], 1, 450.0),
        ("Какой газ поглощают листья?", ["Кислород", "Гелий", "Углекислый газ", "Неон"], 2, 650.0),
    ],
}
WHY = {"en": "The lecture explains it at this moment.", "ru": "Лекция объясняет это в этот момент."}


def good_answer(lang: str, count: int = 4, *, options: int = 4) -> str:
    """A usable answer in ``lang`` with ``count`` questions of ``options`` answers each."""
    items = []
    for i in range(count):
        text, answers, right, at = QUESTIONS[lang][i % 4]
        answers = (answers + [f"{answers[0]} {n}" for n in range(2, 12)])[:options]
        items.append(
            {
                "question": text,
                "options": answers,
                "correct": min(right, len(answers) - 1),
                "explanation": WHY[lang],
                "at": f"00:{int(at // 60):02d}:{int(at % 60):02d}",
            }
        )
    return json.dumps({"questions": items}, ensure_ascii=False)


Reply = str | Callable[[dict[str, Any]], str]


@dataclass
class QuizModel:
    language: str
    replies: deque[Reply] = field(default_factory=deque)
    max_chars: int = 24_000
    problems: list[str] = field(default_factory=list)
    asked: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, body: dict[str, Any]) -> str:
        self.asked.append(body)
        self._check(body)
        if not self.replies:
            self.problems.append("a request nobody expected")
            return "{}"
        reply = self.replies.popleft()
        return reply if isinstance(reply, str) else reply(body)

    def _check(self, body: dict[str, Any]) -> None:
        number = len(self.asked)
        messages = body.get("messages") or []
        roles = [m.get("role") for m in messages]
        if roles != ["system", "user"]:
            self.problems.append(f"request {number}: messages {roles}, not system and user")
            return
        system, user = (str(m.get("content") or "") for m in messages)
        if (body.get("response_format") or {}).get("type") != "json_object":
            self.problems.append(f"request {number}: JSON mode not asked for")
        if '"questions"' not in system or '"correct"' not in system:
            self.problems.append(f"request {number}: the answer's JSON shape is not shown")
        wanted = LANGUAGE_NAMES[self.language]
        if f"Write everything in {wanted}" not in system:
            self.problems.append(f"request {number}: the answer's language is not {wanted}")
        others = [n for c, n in LANGUAGE_NAMES.items() if c != self.language]
        if any(f"in {other}" in system + user for other in others):
            self.problems.append(f"request {number}: another language is asked for")
        size = len(system) + len(user)
        if size > self.max_chars + len(system):
            self.problems.append(f"request {number}: {size} characters, over the batch")
        if "Transcript:" not in user:
            self.problems.append(f"request {number}: no transcript")
