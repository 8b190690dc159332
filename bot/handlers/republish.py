"""Publishing seen from /recordings: publish again where it failed, and no Delete meanwhile.

A platform that failed (a revoked grant, a quota, a refused file) is tried again from the
recording's card once the cause is fixed, by an admin, as Publish on the review card is.
Deleting waits until publishing has ended: a publish job cannot be stopped in the middle of
an upload, and one whose rows were gone could neither resume nor report what it left behind.

This router comes before the /recordings one, which answers every other button of the card.
"""

from __future__ import annotations

import logging
from typing import Any

from aiogram import F, Router
from aiogram.filters import Filter
from aiogram.types import CallbackQuery, TelegramObject
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import recordings as cb
from bot.callbacks.recordings import RecCb
from bot.filters import IsAdmin, OwnRecording, refuse_foreign, refuse_non_admin
from bot.handlers.recordings import show_card
from jobs import cards, control
from jobs.publish import PlatformRefused
from locales import Translator
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
) -> None:
    try:
        queued = await control.publish_again(session, arq, recording, query.from_user.id)
    except PlatformRefused as exc:
        await session.rollback()
        names = ", ".join(cards.platform_name(_.lang, p) for p in exc.platforms)
        await query.answer(_("review.needs_picture", platforms=names), show_alert=True)
        return
    except Exception:
        log.exception("recording %s: publishing again did not start", recording.id)
        await session.rollback()
        await query.answer(_("review.publish_failed"), show_alert=True)
        return
    if queued:
        names = ", ".join(cards.platform_name(_.lang, p) for p in queued)
        await query.answer(_("recs.publishing_again", platforms=names))
    else:
        # Pressed twice, or another admin was quicker: the card shows where things stand.
        await query.answer(_("recs.nothing_to_publish"), show_alert=True)
    await session.refresh(recording)
    await show_card(query, session, recording, callback_data.page, _)


async def delete_while_publishing(query: CallbackQuery, _: Translator) -> None:
    await query.answer(_("recs.delete_publishing"), show_alert=True)


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

    refused = Router(name=f"{__name__}.refused")
    refused.callback_query.register(
        refuse_non_admin, RecCb.filter(F.action == cb.PUBLISH_AGAIN), OwnRecording()
    )
    refused.callback_query.register(refuse_foreign, RecCb.filter(F.action == cb.PUBLISH_AGAIN))

    router.include_routers(admin, refused)
    return router
