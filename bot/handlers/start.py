"""Greeting, help and the language of the conversation.

In a private chat the person chooses; in a group the admins do (and the audit log keeps it),
and the refusal router answers everyone else.
"""

from __future__ import annotations

import html

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, CommandStart
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


async def language(message: Message, command: CommandObject, _: Translator) -> None:
    # Without an argument, or with one we do not speak: the buttons, which name what we do.
    text = _("language.prompt")
    if command.args:
        text = _("language.unknown", given=html.escape(command.args.strip()[:20])) + "\n" + text
    await message.answer(text, reply_markup=keyboards.languages(_.lang))


def _argument(command: CommandObject) -> str:
    return (command.args or "").strip().lower()


async def language_typed(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    workspace: Workspace,
    member: Member,
) -> None:
    """`/language ru` in a person's own chat."""
    lang = _argument(command)
    member.language = lang
    workspace.language = lang
    await session.commit()
    await message.answer(Translator(lang)("language.set"))


async def group_language_typed(
    message: Message, command: CommandObject, session: AsyncSession, workspace: Workspace
) -> None:
    """`/language ru` in a group, from an admin: recorded as a button press would be."""
    lang = _argument(command)
    if message.from_user is not None:
        await _set_group_language(session, workspace, message.from_user.id, lang)
    await session.commit()
    await message.answer(Translator(lang)("language.set"))


async def refuse_group_language_typed(message: Message, _: Translator) -> None:
    await message.answer(_("common.admins_only"))


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
    await _set_group_language(session, workspace, query.from_user.id, callback_data.lang)
    await _confirm(query, session, callback_data.lang)


async def _set_group_language(
    session: AsyncSession, workspace: Workspace, user_id: int, lang: str
) -> None:
    before = workspace.language
    workspace.language = lang
    if before != lang:
        await repo.audit(
            session, workspace.id, user_id, LANGUAGE_CHANGED, "language", value=lang, was=before
        )


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
    # "/language ru": a language we speak, written after the command.
    typed = Command("language", magic=F.args.func(lambda a: (a or "").strip().lower() in LANGUAGES))
    router.message.register(language_typed, typed, ~InGroup())
    chosen = LanguageCb.filter(F.lang.in_(LANGUAGES))
    router.callback_query.register(language_chosen, chosen, ~InGroup())

    group_admin = Router(name=f"{__name__}.group_admin")
    group_admin.callback_query.filter(InGroup(), IsAdmin())
    group_admin.callback_query.register(group_language_chosen, chosen)
    group_admin.message.filter(InGroup(), IsAdmin())
    group_admin.message.register(group_language_typed, typed)

    refused = Router(name=f"{__name__}.refused")
    refused.callback_query.register(refuse_group_language, chosen, InGroup())
    refused.message.register(refuse_group_language_typed, typed, InGroup())

    # Anything else after /language, or nothing: the buttons.
    last = Router(name=f"{__name__}.language")
    last.message.register(language, Command("language"))

    router.include_routers(group_admin, refused, last)
    return router
