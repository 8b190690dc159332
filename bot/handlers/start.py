"""Greeting, help and the language of the conversation."""

from __future__ import annotations

import html

from aiogram import F, Router
from aiogram.filters import Command, CommandStart
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks.language import LanguageCb
from bot.keyboards import language as keyboards
from leap.settings import Settings
from locales import LANGUAGES, Translator
from storage.models import Member, Role, Workspace, WorkspaceKind


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
    role: Role,
) -> None:
    if workspace.kind is WorkspaceKind.GROUP:
        # A group's messages are read by everyone, so its language is the admins' choice.
        if not role.is_admin:
            await query.answer(
                Translator(callback_data.lang)("common.admins_only"), show_alert=True
            )
            return
        workspace.language = callback_data.lang
    else:
        member.language = callback_data.lang
        workspace.language = callback_data.lang
    # Saved before the answer, so the very next message is already read in the new language.
    await session.commit()
    _ = Translator(callback_data.lang)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text(
            _("language.set"), reply_markup=keyboards.languages(callback_data.lang)
        )


def make_router() -> Router:
    router = Router(name=__name__)
    router.message.register(start, CommandStart())
    router.message.register(help_, Command("help"))
    router.message.register(language, Command("language"))
    router.callback_query.register(language_chosen, LanguageCb.filter(F.lang.in_(LANGUAGES)))
    return router
