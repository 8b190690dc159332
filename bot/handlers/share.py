"""The review card's "Share page" button and the off switch under the link it gives.

- Only admins turn a share page on or off: the page shows the lecture to anyone holding the
  link, which is publishing. Everyone else is told who can; a button naming a recording of
  another workspace is refused as every card button is (`refuse_foreign`).
- "Share page" answers with the link in a reply to the card (the same link while it is on),
  with a switch under it that turns off exactly that link; a switch under a link replaced
  since then turns nothing off. What jobs.share stores is committed before the reply is sent.
- Without a public address or a secret the button says why no link can be given.
"""

from __future__ import annotations

import html

from aiogram import Bot, F, Router
from aiogram.types import CallbackQuery, LinkPreviewOptions, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.filters import IsAdmin, OwnRecording, refuse_foreign, refuse_non_admin
from bot.handlers.usage import edit_quietly
from bot.keyboards import share as keyboards
from jobs import cards, share
from jobs.cards.callbacks import SHARE_OFF, SHARE_OPEN, ShareCb
from leap.settings import Settings
from locales import Translator
from storage.files import MediaStore
from storage.models import Recording, RecordingStatus


def make_router() -> Router:
    router = Router(name=__name__)
    admin = Router(name=f"{__name__}.admin")
    admin.callback_query.filter(IsAdmin())
    admin.callback_query.register(open_link, ShareCb.filter(F.action == SHARE_OPEN), OwnRecording())
    admin.callback_query.register(turn_off, ShareCb.filter(F.action == SHARE_OFF), OwnRecording())
    refused = Router(name=f"{__name__}.refused")
    refused.callback_query.register(refuse_non_admin, ShareCb.filter(), OwnRecording())
    refused.callback_query.register(refuse_foreign, ShareCb.filter())
    router.include_routers(admin, refused)
    return router


async def _title(store: MediaStore, recording: Recording) -> str:
    metadata = await cards.fetch_metadata(store, recording)
    return html.escape(cards.recording_title(recording, metadata))


async def open_link(
    query: CallbackQuery,
    recording: Recording,
    session: AsyncSession,
    settings: Settings,
    store: MediaStore,
    _: Translator,
) -> None:
    url = await share.turn_on(session, settings, recording, query.from_user.id)
    sid = share.share_id(recording)
    if url is None or sid is None:
        await query.answer(_("share.no_link"), show_alert=True)
        return
    await session.commit()
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.reply(
            _("share.link", title=await _title(store, recording), url=html.escape(url)),
            reply_markup=keyboards.link_message(_, recording.id, sid),
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )


async def turn_off(
    query: CallbackQuery,
    callback_data: ShareCb,
    recording: Recording,
    session: AsyncSession,
    bot: Bot,
    store: MediaStore,
    _: Translator,
) -> None:
    current = share.share_id(recording)
    if current is None or (callback_data.sid and callback_data.sid != current):
        # This message's link was turned off already (perhaps replaced by a newer one).
        await query.answer(_("share.already_off"), show_alert=True)
        done = False
    else:
        await share.revoke(session, recording, query.from_user.id)
        await session.commit()
        await query.answer(_("share.revoked_alert"))
        done = True
    if isinstance(query.message, Message):
        await edit_quietly(
            query.message, _("share.revoked", title=await _title(store, recording)), None
        )
    if done and recording.status is not RecordingStatus.AWAITING_REVIEW:
        # After publishing the card carries the button only while the page is on.
        await cards.refresh_review_card(bot, session, store, recording)
