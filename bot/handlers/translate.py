"""Subtitle translation from the review card: choose the language, start the worker's job.

- The card's button (:class:`TranslateCb` without a language) asks which language, the
  lecture's usual counterpart first (Russian ↔ English); a language button starts the job.
- Anyone in the workspace may translate while the recording awaits review, as they may have
  its chapters made again, and once it is published (the track then goes to its YouTube
  video): it adds subtitles and changes nothing that is there. A button
  naming another workspace's recording is refused like every card's.
- What only the presser reads (an alert) is in their own language; the question with the
  languages, which the chat sees, in the chat's. Refused with a reason: a language not offered,
  the language the subtitles are already in, no language model (LLM_API_KEY), a translation
  into that language already under way.
- A started translation is recorded as queued at once and the card says so, until the
  worker's progress takes over; a Redis that loses the queued job loses nothing.
"""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.types import CallbackQuery, Message
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession

from bot.filters import OwnRecording, refuse_foreign
from bot.handlers.usage import edit_quietly
from bot.keyboards.translate import named, target_languages
from jobs import cards
from jobs.cards.callbacks import TranslateCb
from jobs.cards.translation import OFFERED
from jobs.translate import (
    TARGETS,
    default_target,
    enqueue_translation,
    mark_queued,
    source_language,
)
from leap.settings import Settings
from locales import Translator
from storage.files import MediaStore
from storage.models import Recording


def make_router() -> Router:
    router = Router(name=__name__)
    router.callback_query.register(choose, TranslateCb.filter(F.to == ""), OwnRecording())
    router.callback_query.register(start, TranslateCb.filter(), OwnRecording())
    router.callback_query.register(refuse_foreign, TranslateCb.filter())
    return router


async def _offered(query: CallbackQuery, recording: Recording, _: Translator) -> bool:
    if recording.status in OFFERED:
        return True
    await query.answer(_("review.not_under_review"), show_alert=True)
    return False


def _source(recording: Recording) -> str:
    return source_language(recording).split("-")[0].lower()


async def choose(
    query: CallbackQuery,
    recording: Recording,
    settings: Settings,
    _: Translator,
    own: Translator | None = None,
) -> None:
    said = own or _
    if not await _offered(query, recording, said):
        return
    if settings.llm_api_key is None:
        await query.answer(said("translate.offline"), show_alert=True)
        return
    await query.answer()
    source = _source(recording)
    if isinstance(query.message, Message):
        await query.message.reply(
            _("translate.choose", source=named(_, source)),
            reply_markup=target_languages(_, recording.id, source, default_target(source)),
        )


async def start(
    query: CallbackQuery,
    callback_data: TranslateCb,
    recording: Recording,
    settings: Settings,
    arq: ArqRedis,
    session: AsyncSession,
    store: MediaStore,
    bot: Bot,
    _: Translator,
    own: Translator | None = None,
) -> None:
    said = own or _
    if not await _offered(query, recording, said):
        return
    target = callback_data.to
    if target not in TARGETS:
        await query.answer(said("translate.unknown_language"), show_alert=True)
        return
    name = named(said, target)
    if settings.llm_api_key is None:
        await query.answer(said("translate.offline"), show_alert=True)
        return
    if target == _source(recording):
        await query.answer(said("translate.same_language", language=name), show_alert=True)
        return
    if not await enqueue_translation(arq, recording.workspace_id, recording.id, target):
        await query.answer(said("translate.already", language=name), show_alert=True)
        return
    await mark_queued(session, recording, target)
    await query.answer(said("translate.started", language=name))
    if isinstance(query.message, Message):
        # The question was the chat's: its answer is too.
        await edit_quietly(query.message, _("translate.started", language=named(_, target)), None)
    # The card says it waits for a worker until the job's own progress takes over.
    await cards.refresh_review_card(bot, session, store, recording)
