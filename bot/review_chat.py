"""What the review card's handlers share in the chat: the under-review check, prompts for text,
and short alerts.

Rules:
- A press on a recording that is no longer awaiting review is answered with an alert and
  goes no further; so is a typed answer, whose prompt is closed.
- A prompt asks the person who pressed, in the chat, through `bot.conversation` (the one
  store of "reply with…" prompts); their reply reaches the handler of its kind.
- An alert holds at most _ALERT characters of plain text.
"""

from __future__ import annotations

import html
import re

from aiogram.types import CallbackQuery, Message
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession

from bot.conversation import Ask, Conversations, open_prompt
from locales import Translator
from storage import repo
from storage.models import Recording, RecordingStatus, Workspace

__all__ = ["answered_recording", "prompt", "short", "under_review"]

_ALERT = 190


async def under_review(query: CallbackQuery, recording: Recording, _: Translator) -> bool:
    if recording.status is RecordingStatus.AWAITING_REVIEW:
        return True
    await query.answer(_("review.not_under_review"), show_alert=True)
    return False


async def answered_recording(
    message: Message,
    ask: Ask,
    session: AsyncSession,
    arq: ArqRedis,
    workspace: Workspace,
    _: Translator,
) -> Recording | None:
    """The recording a typed answer is for, while it awaits review; else the prompt ends."""
    user = message.from_user
    assert user is not None
    recording = await repo.get_recording(session, workspace.id, ask.rec)
    if recording is None or recording.status is not RecordingStatus.AWAITING_REVIEW:
        await Conversations(arq).close(message.chat.id, user.id, ask.prompt)
        await message.reply(_("review.not_under_review"))
        return None
    return recording


async def prompt(query: CallbackQuery, arq: ArqRedis, text: str, ask: Ask, _: Translator) -> None:
    """Ask the presser for text in the chat; their reply reaches the handler of `ask.kind`."""
    await query.answer()
    if isinstance(query.message, Message):
        user = query.from_user
        await open_prompt(query.message, user.id, user.full_name, text, ask, arq, _)


def short(text: str) -> str:
    """``text`` as an alert shows it: plain, and cut to fit."""
    plain = re.sub(r"<[^>]*>", "", html.unescape(text))
    return plain if len(plain) <= _ALERT else plain[: _ALERT - 1] + "…"
