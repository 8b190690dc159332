"""Greeting, help and the language of the conversation.

In a private chat the person chooses; in a group the admins do (and the audit log keeps it),
and the refusal router answers everyone else.
"""

from __future__ import annotations

import html

from aiogram import F, Router
from aiogram.filters import Command, CommandStart
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks.language import LanguageCb
from bot.filters import InGroup, IsAdmin
from bot.handlers.usage import edit_quietly
from bot.keyboards import language as keyboards
from leap.settings import Settings
from locales import LANGUAGES, Translator
from storage import repo
from storage.models import Member, Workspace, WorkspaceKind

# The audit action of a group's language changed with /language.
LANGUAGE_CHANGED = "language_changed"


async def start(message: Message, workspace: Workspace, _: Translator) -> None:
    if workspace.kind is WorkspaceKind.GROUP:
        await message.answer(_("start.group"))
        return
    name = html.escape(message.from_user.first_name if message.from_user else "")
    await message.answer(_("start.private", name=name))


async def help_(message: Message, settings: Settings, _: Translator) -> None:
    limit = (
        settings.local_download_limit_mb
        if settings.telegram_api_local
        else settings.cloud_download_limit_mb
    )
    await message.answer(_("help.text", limit_mb=limit))


async def language(message: Message, _: Translator) -> None:
    await message.answer(_("language.prompt"), reply_markup=keyboards.languages(_.lang))


async def language_chosen(
    query: CallbackQuery,
    callback_data: LanguageCb,
    session: AsyncSession,
    workspace: Workspace,
    member: Member,
) -> None:
    """A person's own chat: the language is theirs."""
    member.language = callback_data.lang
    workspace.language = callback_data.lang
    await _confirm(query, session, callback_data.lang)


async def group_language_chosen(
    query: CallbackQuery,
    callback_data: LanguageCb,
    session: AsyncSession,
    workspace: Workspace,
) -> None:
    """A group's messages are read by everyone, so its language is the admins' choice."""
    before = workspace.language
    workspace.language = callback_data.lang
    if before != callback_data.lang:
        await repo.audit(
            session,
            workspace.id,
            query.from_user.id,
            LANGUAGE_CHANGED,
            "language",
            value=callback_data.lang,
            was=before,
        )
    await _confirm(query, session, callback_data.lang)


async def _confirm(query: CallbackQuery, session: AsyncSession, lang: str) -> None:
    # Saved before the answer, so the very next message is already read in the new language.
    await session.commit()
    _ = Translator(lang)
    await query.answer()
    if isinstance(query.message, Message):
        await edit_quietly(query.message, _("language.set"), keyboards.languages(lang))


async def refuse_group_language(query: CallbackQuery, callback_data: LanguageCb) -> None:
    # Told in the language pressed: the one the person reads best, as far as the bot knows.
    await query.answer(Translator(callback_data.lang)("common.admins_only"), show_alert=True)


def make_router() -> Router:
    router = Router(name=__name__)
    router.message.register(start, CommandStart())
    router.message.register(help_, Command("help"))
    router.message.register(language, Command("language"))
    chosen = LanguageCb.filter(F.lang.in_(LANGUAGES))
    router.callback_query.register(language_chosen, chosen, ~InGroup())

    group_admin = Router(name=f"{__name__}.group_admin")
    group_admin.callback_query.filter(InGroup(), IsAdmin())
    group_admin.callback_query.register(group_language_chosen, chosen)

    refused = Router(name=f"{__name__}.refused")
    refused.callback_query.register(refuse_group_language, chosen, InGroup())

    router.include_routers(group_admin, refused)
    return router
