"""The review card's part of self-check questions: its button, its line, the buttons' data.

Rules it keeps:

- `QuestionsCb` has its own versioned prefix (``rq1``) and carries an action, the recording
  and, for dropping one, its place and a short fingerprint of its text (``h``): a list that
  changed since its buttons were drawn is never read with the old places.
- With a language model set up the card has a "Questions" button (with how many there are);
  without one it has no button and a line saying why, in the recording's language.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton

from jobs import quiz
from locales import gettext
from pipeline.questions import Question
from storage.models import Recording

OPEN = "o"
REGENERATE = "g"
REPLACE = "r"
DROP = "d"
DROP_ONE = "x"
QUIZ = "q"
CHANNEL = "c"
CLOSE = "z"


class QuestionsCb(CallbackData, prefix="rq1"):
    a: str
    rec: int
    i: int = -1
    h: int = 0


def fingerprint(question: Question) -> int:
    """A short number that changes when the question's text does."""
    return zlib.crc32(question.question.encode()) % 100_000


def questions_button(recording: Recording) -> list[InlineKeyboardButton]:
    """The card's Questions button, or none when questions are not offered."""
    if not quiz.offered(recording):
        return []
    lang = recording.language
    count = len(quiz.stored(recording))
    label = (
        gettext(lang, "questions.button_count", count=count)
        if count
        else gettext(lang, "questions.button")
    )
    return [
        InlineKeyboardButton(text=label, callback_data=QuestionsCb(a=OPEN, rec=recording.id).pack())
    ]


def questions_lines(recording: Recording, _: Callable[..., str]) -> list[str]:
    """The card's line when questions are not offered: a language model is not set up."""
    state = quiz.state(recording)
    if state.get("llm") is False:
        return ["", _("questions.offline")]
    return []
