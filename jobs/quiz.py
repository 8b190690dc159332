"""Self-check questions of a recording as the workers see them: made, read, posted as quizzes.

Rules it keeps:

- A recording's questions live in ``media["questions"]``: ``llm`` (whether a language model
  was set up when its chapters were made: without one questions are not offered, and the
  card says why), ``items`` (the questions, `pipeline.questions.Question` as JSON) and
  ``source`` ("llm" or "person").
- Questions are made on demand, from the transcript and the chapters: with the chapters when
  the channel quiz is chosen (so the card shows them before Publish), when a person first
  opens them or asks for new ones, or when a channel that should get them is published to
  without any. A language model that answers badly twice raises
  `integrations.llm.questions.QuestionsError`; nothing is stored then.
- The channel gets the questions after the video when the recording says so
  (``options["quiz_channel"]``, set from its card), else when its template does
  (``media["compose"]["quiz_channel"]``).
- A quiz is one Telegram quiz poll per question, in order; a flood wait is waited out once
  (up to :data:`MAX_WAIT` seconds) and then the rest is left unsent.
"""

from __future__ import annotations

import asyncio
import html
import logging
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramRetryAfter

from integrations.llm.questions import QuestionsError, make_questions
from jobs import files
from leap.settings import Settings
from pipeline.questions import Question, load_questions, poll_explanation
from pipeline.topics import Topics
from pipeline.transcript import Transcript
from storage.files import MediaStore
from storage.models import Recording

log = logging.getLogger(__name__)

MAX_WAIT = 30.0
LLM, PERSON = "llm", "person"


def state(recording: Recording) -> dict[str, Any]:
    found = recording.media.get("questions")
    return dict(found) if isinstance(found, dict) else {}


def offered(recording: Recording) -> bool:
    """Questions can be made for this recording: a language model was set up."""
    return bool(state(recording).get("llm"))


def stored(recording: Recording) -> list[Question]:
    return load_questions(state(recording).get("items"))


def stage_media(recording: Recording, settings: Settings) -> dict[str, Any]:
    """What the topics stage keeps of the questions: the ones made stay, the offer is renewed."""
    return {**state(recording), "llm": settings.llm_api_key is not None}


def channel_chosen(recording: Recording) -> bool:
    chosen = recording.options.get("quiz_channel")
    if isinstance(chosen, bool):
        return chosen
    compose = recording.media.get("compose")
    return bool(compose.get("quiz_channel")) if isinstance(compose, dict) else False


async def make(settings: Settings, store: MediaStore, recording: Recording) -> list[Question]:
    """New questions from the language model; raises QuestionsError (also with no key set)."""
    ws, rec = recording.workspace_id, recording.id
    transcript_path = await store.fetch(ws, rec, files.TRANSCRIPT)
    topics_path = await store.fetch(ws, rec, files.TOPICS)
    transcript, topics = await asyncio.to_thread(_read, transcript_path, topics_path)
    return await _ask(settings, recording, transcript, topics)


async def _ask(
    settings: Settings, recording: Recording, transcript: Transcript, topics: Topics
) -> list[Question]:
    duration = float((recording.media.get("trim") or {}).get("duration") or transcript.duration)
    key = settings.llm_api_key
    return await make_questions(
        transcript,
        topics,
        duration,
        base_url=settings.llm_base_url,
        api_key=key.get_secret_value() if key is not None else None,
        model=settings.llm_model,
        language=transcript.language,
    )


async def stage_questions(
    settings: Settings,
    recording: Recording,
    transcript: Transcript,
    topics: Topics,
    *,
    wanted: bool,
) -> dict[str, Any]:
    """What the topics stage keeps of the questions; when the channel quiz is ``wanted`` and
    there are none yet, they are made now, so the card shows them before Publish. A model
    that fails leaves none (they are asked for again when needed)."""
    kept = stage_media(recording, settings)
    if not wanted or not kept["llm"] or "items" in kept:
        return kept
    try:
        made = await _ask(settings, recording, transcript, topics)
    except QuestionsError as exc:
        log.warning(
            "recording %s: questions not made with the chapters (%s)", recording.id, exc.code
        )
        return kept
    return {**kept, "items": [q.model_dump() for q in made], "source": LLM}


def _read(transcript_path: Any, topics_path: Any) -> tuple[Transcript, Topics]:
    transcript = Transcript.load_json(transcript_path)
    try:
        topics = Topics.load_json(topics_path)
    except (OSError, ValueError):
        topics = Topics()
    return transcript, topics


def with_items(recording: Recording, questions: list[Question], source: str) -> dict[str, Any]:
    """The recording's media with these questions stored."""
    items = [q.model_dump() for q in questions]
    return {**recording.media, "questions": {**state(recording), "items": items, "source": source}}


async def post_quiz(
    bot: Bot, chat_id: int, questions: list[Question], *, thread_id: int | None = None
) -> int:
    """Each question as a quiz poll; how many were sent. Telegram's errors other than a flood
    wait are raised."""
    sent = 0
    for question in questions:
        for attempt in (1, 2):
            try:
                await bot.send_poll(
                    chat_id,
                    html.escape(question.question, quote=False),
                    list(question.options),
                    type="quiz",
                    correct_option_id=question.correct,
                    explanation=html.escape(poll_explanation(question), quote=False) or None,
                    message_thread_id=thread_id,
                )
                sent += 1
                break
            except TelegramRetryAfter as exc:
                if attempt == 2 or exc.retry_after > MAX_WAIT:
                    log.warning("quiz: %d of %d sent, Telegram asks to wait", sent, len(questions))
                    return sent
                await asyncio.sleep(exc.retry_after)
    return sent
