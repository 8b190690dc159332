"""After publishing: publish again, and delete, from /recordings and from the review card.

A platform that failed (a revoked grant, a quota, a refused file) is tried again once the
cause is fixed, by an admin, as Publish on the review card is; a file export is made afresh
(see `control.publish_again`). Deleting waits until publishing has ended: a publish job cannot
be stopped in the middle of an upload, and one whose rows were gone could neither resume nor
report what it left behind.

The review card ends with the same two buttons (`cards.OutcomeCb`). Delete there asks first,
in a reply, as Delete in /recordings does. The card is drawn in the recording's language;
alerts and the question go to the presser in the presser's.

This router comes before the /recordings one, which answers every other button of the card.
"""

from __future__ import annotations

import html
import logging
from typing import Any

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Filter
from aiogram.types import CallbackQuery, Message, TelegramObject
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import recordings as cb
from bot.callbacks.recordings import RecCb
from bot.filters import IsAdmin, OwnRecording, refuse_foreign, refuse_non_admin
from bot.handlers.recordings import remove_recording, show_card
from bot.handlers.usage import edit_quietly
from bot.keyboards import recordings as keyboards
from jobs import cards, control
from jobs.cards import OutcomeCb
from jobs.publish import PlatformRefused
from locales import Translator, gettext
from storage.files import MediaStore
from storage.models import Recording

log = logging.getLogger(__name__)

_DELETING = {cb.DELETE, cb.DELETE_SURE}


class Publishing(Filter):
    """The recording `OwnRecording` found has a publication still queued or uploading."""

    async def __call__(
        self, event: TelegramObject, session: AsyncSession, recording: Recording
    ) -> bool | dict[str, Any]:
        return await control.is_publishing(session, recording.workspace_id, recording.id)


async def publish_again(
    query: CallbackQuery,
    callback_data: RecCb,
    recording: Recording,
    session: AsyncSession,
    arq: ArqRedis,
    _: Translator,
    own: Translator | None = None,
) -> None:
    if await _start_again(query, recording, session, arq, own or _) is None:
        return
    await session.refresh(recording)
    await show_card(query, session, recording, callback_data.page, _)


async def card_publish_again(
    query: CallbackQuery,
    recording: Recording,
    session: AsyncSession,
    arq: ArqRedis,
    bot: Bot,
    store: MediaStore,
    _: Translator,
    own: Translator | None = None,
) -> None:
    queued = await _start_again(query, recording, session, arq, own or _)
    if queued is None:
        return
    await session.refresh(recording)
    if queued:
        await cards.show_publish_started(bot, session, store, recording)
    else:
        await cards.refresh_review_card(bot, session, store, recording)


async def _start_again(
    query: CallbackQuery,
    recording: Recording,
    session: AsyncSession,
    arq: ArqRedis,
    _: Translator,
) -> list[str] | None:
    """Queue what Publish again redoes and answer the presser (in `_`, their language); None
    when it could not start."""
    try:
        queued = await control.publish_again(session, arq, recording, query.from_user.id)
    except PlatformRefused as exc:
        await session.rollback()
        names = ", ".join(cards.platform_name(_.lang, p) for p in exc.platforms)
        await query.answer(_("review.needs_picture", platforms=names), show_alert=True)
        return None
    except Exception:
        log.exception("recording %s: publishing again did not start", recording.id)
        await session.rollback()
        await query.answer(_("review.publish_failed"), show_alert=True)
        return None
    if queued:
        names = ", ".join(cards.platform_name(_.lang, p) for p in queued)
        await query.answer(_("recs.publishing_again", platforms=names))
    else:
        # Pressed twice, or another admin was quicker: the card shows where things stand.
        await query.answer(_("recs.nothing_to_publish"), show_alert=True)
    return queued


async def card_delete(
    query: CallbackQuery, recording: Recording, _: Translator, own: Translator | None = None
) -> None:
    _ = own or _
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.reply(
            _("recs.delete_confirm", name=html.escape(cards.display_name(recording))),
            reply_markup=keyboards.confirm_card_delete(_, recording.id),
        )


async def card_delete_confirmed(
    query: CallbackQuery,
    recording: Recording,
    session: AsyncSession,
    arq: ArqRedis,
    bot: Bot,
    store: MediaStore,
    _: Translator,
    own: Translator | None = None,
) -> None:
    _ = own or _
    name = html.escape(cards.display_name(recording))
    lang, chat_id = recording.language, recording.chat_id
    card_id = cards.review_state(recording).get("card")
    if not await remove_recording(query, recording, session, arq, store, _):
        return
    if isinstance(query.message, Message):
        await edit_quietly(query.message, _("recs.deleted", name=name), None)
    if chat_id is not None and card_id:
        try:
            await bot.edit_message_text(
                text=gettext(lang, "recs.deleted", name=name),
                chat_id=chat_id,
                message_id=int(card_id),
                reply_markup=None,
            )
        except TelegramAPIError as exc:
            log.info("recording card not marked deleted: %s", exc.message)


async def card_delete_kept(
    query: CallbackQuery, _: Translator, own: Translator | None = None
) -> None:
    _ = own or _
    await query.answer()
    if isinstance(query.message, Message):
        await edit_quietly(query.message, _("recs.delete_kept"), None)


async def delete_while_publishing(
    query: CallbackQuery, _: Translator, own: Translator | None = None
) -> None:
    await query.answer((own or _)("recs.delete_publishing"), show_alert=True)


def make_router() -> Router:
    router = Router(name=__name__)

    admin = Router(name=f"{__name__}.admin")
    admin.callback_query.filter(IsAdmin())
    admin.callback_query.register(
        publish_again, RecCb.filter(F.action == cb.PUBLISH_AGAIN), OwnRecording()
    )
    admin.callback_query.register(
        delete_while_publishing, RecCb.filter(F.action.in_(_DELETING)), OwnRecording(), Publishing()
    )
    admin.callback_query.register(
        card_publish_again, OutcomeCb.filter(F.action == cards.AGAIN), OwnRecording()
    )
    admin.callback_query.register(
        card_delete, OutcomeCb.filter(F.action == cards.DELETE), OwnRecording()
    )
    admin.callback_query.register(
        card_delete_confirmed, OutcomeCb.filter(F.action == cards.DELETE_SURE), OwnRecording()
    )
    admin.callback_query.register(
        card_delete_kept, OutcomeCb.filter(F.action == cards.DELETE_KEEP), OwnRecording()
    )

    refused = Router(name=f"{__name__}.refused")
    refused.callback_query.register(
        refuse_non_admin, RecCb.filter(F.action == cb.PUBLISH_AGAIN), OwnRecording()
    )
    refused.callback_query.register(refuse_foreign, RecCb.filter(F.action == cb.PUBLISH_AGAIN))
    refused.callback_query.register(refuse_non_admin, OutcomeCb.filter(), OwnRecording())
    refused.callback_query.register(refuse_foreign, OutcomeCb.filter())

    router.include_routers(admin, refused)
    return router
