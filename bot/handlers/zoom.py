"""Zoom cloud recordings: listing and importing them (connecting is `zoom_connect`'s).

`/zoom` lists the recent recordings of the workspace's accounts, marks the ones already
imported, and offers a button for each of the others; a button queues the recording like a
file sent to the chat, once the workspace's quotas have room for it (`jobs.admission`). What
is asked of Zoom and kept for the buttons lives in `jobs.zoom_accounts`; here are the replies.

Only admins list and import: the router says so with `IsAdmin()`, and its refusal router
answers everyone else.
"""

from __future__ import annotations

import html

from aiogram import Bot, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks.zoom import ZoomPickCb
from bot.filters import IsAdmin, refuse_non_admin, refuse_non_admin_message
from bot.handlers import zoom_connect
from bot.handlers.usage import refusal_text
from bot.keyboards import zoom as keyboards
from jobs import admission, zoom_accounts, zoom_import
from jobs.zoom_accounts import PROVIDER
from leap.settings import Settings
from locales import Translator
from locales.format import duration, size
from storage import quotas, repo
from storage.crypto import SecretBox
from storage.files import MediaStore
from storage.models import Recording, Workspace


async def list_recordings(
    message: Message,
    workspace: Workspace,
    session: AsyncSession,
    arq: ArqRedis,
    secrets: SecretBox | None,
    settings: Settings,
    lang: str,
    _: Translator,
) -> None:
    rows = await repo.credentials(session, workspace.id, PROVIDER)
    if not rows:
        await message.answer(_("zoom.none_connected"))
        return
    if secrets is None:
        await message.answer(_("zoom.no_secret_key"))
        return
    status = await message.answer(_("zoom.loading"))
    listing = await zoom_accounts.recent(session, workspace, rows, secrets, settings)
    limits = listing.limits
    lines = [_("zoom.list_title", days=limits.days)] if listing.recordings else []
    buttons: list[tuple[int, str, str]] = []
    for number, listed in enumerate(listing.recordings, 1):
        rec = listed.recording
        if rec.processing or rec.file is None:
            mark = _("zoom.mark_processing")
        elif rec.uuid in listing.imported:
            mark = _("zoom.mark_imported")
        else:
            mark = ""
            key = await zoom_accounts.offer_pick(arq, workspace.id, listed)
            buttons.append((number, rec.topic, key))
        lines.append(
            _(
                "zoom.list_line",
                n=number,
                date=rec.start_time.strftime("%d.%m.%Y %H:%M"),
                topic=html.escape(rec.topic),
                duration=duration(rec.duration),
                size=size(lang, rec.file.size) if rec.file and rec.file.size else "—",
                mark=mark,
            )
        )
    problems = [
        _("zoom.account_refused", account=html.escape(account))
        if what == "refused"
        else _("zoom.account_unreachable", account=html.escape(account))
        for what, account in listing.problems
    ]
    if not listing.recordings and not problems:
        lines.append(
            _(
                "zoom.list_empty",
                days=limits.days,
                minutes=f"{limits.min_minutes:g}",
                mb=f"{limits.min_mb:g}",
            )
        )
    lines += problems
    if buttons:
        lines += ["", _("zoom.list_hint")]
    await status.edit_text("\n".join(lines), reply_markup=keyboards.recordings(_, buttons))


async def pick(
    query: CallbackQuery,
    callback_data: ZoomPickCb,
    workspace: Workspace,
    session: AsyncSession,
    settings: Settings,
    store: MediaStore,
    arq: ArqRedis,
    bot: Bot,
    lang: str,
    _: Translator,
) -> None:
    taken = await zoom_accounts.take_pick(arq, workspace.id, callback_data.key)
    if taken is None or not await zoom_accounts.still_there(session, workspace.id, taken):
        await query.answer(_("zoom.list_expired"), show_alert=True)
        return
    found = taken.recording
    if await zoom_accounts.imported_meetings(session, workspace.id, [found.uuid]):
        await query.answer(_("zoom.already_imported"), show_alert=True)
        return
    anchor = query.message if isinstance(query.message, Message) else None
    new = zoom_import.picked(
        workspace,
        taken,
        lang=lang,
        chat_id=anchor.chat.id if anchor is not None else workspace.chat_id,
        thread_id=anchor.message_thread_id
        if anchor is not None and anchor.is_topic_message
        else None,
        user_id=query.from_user.id,
    )

    async def announce(recording: Recording) -> int | None:
        if anchor is None:
            return None
        return (await anchor.answer(_("intake.queued", name=html.escape(found.topic)))).message_id

    admitted = await admission.admit(session, arq, store, settings, new, announce)
    if isinstance(admitted, admission.AlreadyAdmitted):
        # Another admin's list, or the sync, took the meeting while this press waited.
        await query.answer(_("zoom.already_imported"), show_alert=True)
    elif isinstance(admitted, quotas.Refusal):
        # The button stays: once there is room, the same press imports the recording.
        await zoom_accounts.put_back(arq, workspace.id, callback_data.key, taken)
        await query.answer()
        await _say(bot, workspace, anchor, refusal_text(_, admitted))
    else:
        await query.answer(_("zoom.queued"))


async def _say(bot: Bot, workspace: Workspace, anchor: Message | None, text: str) -> None:
    """A message below the list a button was pressed on, or in the chat when that is gone."""
    if anchor is not None:
        await anchor.answer(text)
    else:
        await bot.send_message(workspace.chat_id, text)


def make_router() -> Router:
    router = Router(name=__name__)

    admin = Router(name=f"{__name__}.admin")
    admin.message.filter(IsAdmin())
    admin.callback_query.filter(IsAdmin())
    admin.message.register(list_recordings, Command("zoom"))
    admin.callback_query.register(pick, ZoomPickCb.filter())

    refused = Router(name=f"{__name__}.refused")
    refused.message.register(refuse_non_admin_message, Command("zoom"))
    refused.callback_query.register(refuse_non_admin, ZoomPickCb.filter())

    # Connecting after listing: /zoom is the list's, whatever follows it in the message.
    router.include_routers(admin, refused, zoom_connect.make_router())
    return router
