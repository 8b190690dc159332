"""What people do to a recording's self-check questions from its card: make, replace, drop,
choose the channel quiz. The bot calls these with its own session; nothing here talks to
Telegram (posting a quiz is `jobs.quiz.post_quiz`).

Rules it keeps:

- A saved list goes into the recording's media (`jobs.quiz`) and, through the template's
  ``{{ questions }}``, into metadata.json; a list the template cannot render raises
  TemplateError and nothing is saved.
- Every change is audited in the name of who made it (``questions_changed``, with how).
- Dropping names the question by its place and its fingerprint: a list that changed since
  (another person's edit, new questions) is left as it is and :class:`Stale` is raised.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from jobs import control, quiz
from jobs.cards.questions import fingerprint
from leap.settings import Settings
from pipeline.questions import (
    MAX_QUESTIONS,
    Problem,
    Question,
    QuestionListError,
    parse_questions,
    questions_text,
    without,
)
from pipeline.templates import TemplateError
from storage import repo
from storage.files import MediaStore
from storage.models import Recording

# The bot reads and shows lists through this module (README's package table).
__all__ = [
    "MAX_QUESTIONS",
    "Problem",
    "Question",
    "QuestionListError",
    "Stale",
    "drop",
    "generate",
    "parse_questions",
    "questions_text",
    "replace",
    "toggle_channel",
]


class Stale(Exception):
    """The list changed since its buttons were drawn."""


async def generate(
    session: AsyncSession,
    store: MediaStore,
    settings: Settings,
    recording: Recording,
    user_id: int,
) -> list[Question]:
    """New questions from the language model, saved; raises QuestionsError or TemplateError."""
    made = await quiz.make(settings, store, recording)
    await _save(session, store, recording, made, quiz.LLM, user_id, "generated")
    return made


async def replace(
    session: AsyncSession,
    store: MediaStore,
    recording: Recording,
    questions: list[Question],
    user_id: int,
) -> None:
    await _save(session, store, recording, questions, quiz.PERSON, user_id, "replaced")


async def drop(
    session: AsyncSession,
    store: MediaStore,
    recording: Recording,
    index: int,
    mark: int,
    user_id: int,
) -> list[Question]:
    """The list without the question at ``index``; raises Stale when it is not that one."""
    current = quiz.stored(recording)
    if not 0 <= index < len(current) or fingerprint(current[index]) != mark:
        raise Stale
    left = without(current, index)
    await _save(session, store, recording, left, quiz.PERSON, user_id, "dropped")
    return left


async def toggle_channel(session: AsyncSession, recording: Recording, user_id: int) -> bool:
    """Post the quiz in the channel after the video, or not; the new choice."""
    chosen = not quiz.channel_chosen(recording)
    recording.options = {**recording.options, "quiz_channel": chosen}
    await _audit(session, recording, user_id, "channel_on" if chosen else "channel_off")
    await session.commit()
    return chosen


async def _save(
    session: AsyncSession,
    store: MediaStore,
    recording: Recording,
    questions: list[Question],
    source: str,
    user_id: int,
    how: str,
) -> None:
    recording.media = quiz.with_items(recording, questions, source)
    try:
        await control.recompose(session, store, recording)
    except TemplateError:
        await session.rollback()
        raise
    await _audit(session, recording, user_id, how, count=len(questions))
    await session.commit()


async def _audit(
    session: AsyncSession, recording: Recording, user_id: int, how: str, **details: object
) -> None:
    await repo.audit(
        session,
        recording.workspace_id,
        user_id,
        "questions_changed",
        f"recording:{recording.id}",
        how=how,
        **details,
    )
