"""The self-check quiz in a Telegram channel, right after the recording's video.

Rules it keeps:

- Only when the recording (or its template) chose it (`jobs.quiz.channel_chosen`), and only
  right after the video was posted in the same try: a try that finds the video already
  posted sends no quiz, so a quiz never goes out twice.
- A recording with no questions yet gets them from the language model first; when there is
  none, or it answers badly twice, the video stays published and the chat is told the quiz
  was not sent, and why. So is a quiz Telegram refuses: the video's outcome does not change.
"""

from __future__ import annotations

import html
import logging
from typing import TYPE_CHECKING

from aiogram.exceptions import TelegramAPIError

from integrations.llm.questions import QuestionsError
from jobs import quiz

if TYPE_CHECKING:
    from jobs.publish.target import Target

log = logging.getLogger(__name__)


async def quiz_after_video(target: Target, chat_id: int) -> None:
    recording = target.recording
    if not quiz.channel_chosen(recording):
        return
    questions = quiz.stored(recording)
    if not questions:
        if target.deps.settings.llm_api_key is None:
            await target.tell(target._("questions.channel_offline"))
            return
        try:
            questions = await quiz.make(target.deps.settings, target.deps.store, recording)
        except QuestionsError as exc:
            log.warning("recording %s: no questions for the channel (%s)", recording.id, exc.code)
            await target.tell(target._("questions.channel_failed"))
            return
    try:
        sent = await quiz.post_quiz(target.deps.bot, chat_id, questions)
    except TelegramAPIError as exc:
        log.warning("recording %s: quiz refused by Telegram: %s", recording.id, exc.message)
        await target.tell(target._("questions.channel_refused", reason=html.escape(exc.message)))
        return
    await target.remember(quiz_sent=sent)
    if sent < len(questions):
        await target.tell(target._("questions.channel_partly", sent=sent, count=len(questions)))
