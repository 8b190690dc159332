"""Giving the bot read access to Google Drive, when a private Drive link first needs it.

A Drive link yt-dlp cannot fetch is answered with the reason and a button (see
`jobs.drive_intake`). Pressing it starts the same Google sign-in as /connect's YouTube
(bot/oauth.py: state, PKCE, the starter's confirmation), asking for ``drive.readonly`` on top
of the YouTube scope, so the connection keeps what it had and gains Drive. Like every
sign-in it is an admin's: the router lets only admins press it, and in a group the consent
link goes to the admin privately. Once confirmed, the person sends the link again.
"""

from __future__ import annotations

import html
import logging

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, Message
from arq.connections import ArqRedis

from bot import oauth
from bot.callbacks.drive import DriveCb
from bot.filters import IsAdmin, refuse_non_admin
from bot.keyboards import connections as connection_keyboards
from bot.keyboards import drive as keyboards
from integrations import google_oauth
from leap.settings import Settings
from locales import Translator
from storage.crypto import SecretBox
from storage.models import Workspace, WorkspaceKind

log = logging.getLogger(__name__)

SCOPES = google_oauth.YOUTUBE_SCOPES + google_oauth.DRIVE_SCOPES


async def connect_drive(
    query: CallbackQuery,
    workspace: Workspace,
    settings: Settings,
    bot: Bot,
    arq: ArqRedis,
    secrets: SecretBox | None,
    lang: str,
    _: Translator,
) -> None:
    message = query.message
    await query.answer()
    if not isinstance(message, Message):
        return
    name = _("connect.provider.youtube")
    if secrets is None:
        await message.answer(_("connect.error.no_secret_key", provider=name))
        return
    if not oauth.configured(settings, "youtube"):
        await message.answer(_("connect.error.not_configured", provider=name))
        return
    person = query.from_user
    group = workspace.kind is WorkspaceKind.GROUP
    state, url = await oauth.begin(
        settings,
        arq,
        "youtube",
        workspace_id=workspace.id,
        user_id=person.id,
        user_name=person.full_name,
        chat_id=message.chat.id,
        thread_id=message.message_thread_id if message.is_topic_message else None,
        lang=lang,
        scopes=SCOPES,
    )
    text = _("drive.link")
    if not settings.public_base_url:
        text += "\n\n" + _("connect.paste_hint")
    if not group:
        await message.answer(text, reply_markup=keyboards.consent(_, url))
        return
    # Whoever opens the link can approve with their own account: it goes to the starter alone.
    try:
        await bot.send_message(person.id, text, reply_markup=keyboards.consent(_, url))
    except TelegramAPIError as exc:
        log.info("cannot send a Drive sign-in link to user %s: %s", person.id, exc.message)
        await oauth.forget(arq, "youtube", state)
        me = await bot.me()
        await message.answer(
            _("connect.cannot_write", name=html.escape(person.full_name)),
            reply_markup=connection_keyboards.open_private(
                _, f"https://t.me/{me.username}?start=connect"
            ),
        )
        return
    await message.answer(_("connect.sent_privately", name=html.escape(person.full_name)))


def make_router() -> Router:
    router = Router(name=__name__)
    admin = Router(name=f"{__name__}.admin")
    admin.callback_query.filter(IsAdmin())
    admin.callback_query.register(connect_drive, DriveCb.filter())
    refused = Router(name=f"{__name__}.refused")
    refused.callback_query.register(refuse_non_admin, DriveCb.filter())
    router.include_routers(admin, refused)
    return router
