"""Changing /templates: admins only, and every handler here shows it by where it is registered.

All of them are on `admin_router()`, whose IsAdmin filter covers the whole router (messages
and buttons); `bot.handlers.templates` includes it before the members' router, and its
refusals answer anyone else who presses a change or sends a template file.

- A template is made in a short dialogue (name, keywords, title, description; "-" keeps a
  default) or from a YAML/JSON file of at most MAX_FILE_BYTES, and changed one field or
  switch at a time from its card (the chapters switch goes round fewer, usual, more).
- An answer that makes no valid template is refused with what is wrong, and the dialogue
  asks that step again; nothing is stored. The steps themselves (validate, store, audit)
  are `jobs.template_service`'s.
"""

from __future__ import annotations

import html
import io
import logging
import re
from pathlib import PurePath
from typing import Any

from aiogram import Bot, F, Router
from aiogram.types import CallbackQuery, Message
from arq.connections import ArqRedis
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import templates as cb
from bot.callbacks.templates import TplCb
from bot.conversation import Answering, Ask, Conversations, open_prompt
from bot.filters import IsAdmin, OwnTemplate
from bot.keyboards import templates as keyboards
from bot.template_cards import card_view, errors_text, show_card, show_list
from jobs import template_service
from jobs.template_service import TemplateFileError
from locales import Translator
from storage.models import Template as TemplateRow
from storage.models import Workspace

log = logging.getLogger(__name__)

FILE_EXTS = frozenset({"yaml", "yml", "json"})
MAX_FILE_BYTES = 256 * 1024

# The creation dialogue, one answer per step; edits of one field of an existing template.
NEW_NAME, NEW_KEYWORDS, NEW_TITLE, NEW_DESCRIPTION = "tpl_name", "tpl_kw", "tpl_ttl", "tpl_dsc"
EDIT_FIELDS = {
    cb.TITLE: ("tpl_edit_ttl", "tpl.ask_title"),
    cb.DESCRIPTION: ("tpl_edit_dsc", "tpl.ask_description"),
    cb.KEYWORDS: ("tpl_edit_kw", "tpl.ask_keywords"),
    cb.PRIORITY: ("tpl_edit_pri", "tpl.ask_priority"),
}
EDIT_KINDS = {kind: action for action, (kind, _key) in EDIT_FIELDS.items()}
_FIELDS = {
    cb.TITLE: template_service.TITLE,
    cb.DESCRIPTION: template_service.DESCRIPTION,
    cb.KEYWORDS: template_service.KEYWORDS,
    cb.PRIORITY: template_service.PRIORITY,
}
_SWITCHES = {
    cb.AUTO: template_service.AUTO,
    cb.ENABLED: template_service.ENABLED,
    cb.PLATFORM: template_service.PLATFORM,
    cb.GRANULARITY: template_service.GRANULARITY,
}


def is_template_file(message: Message) -> bool:
    document = message.document
    if document is None:
        return False
    ext = PurePath(document.file_name or "").suffix.lower().lstrip(".")
    return ext in FILE_EXTS


def admin_router() -> Router:
    """Only admins get past this router's filter; every handler in this module is on it."""
    admin = Router(name=f"{__name__}.admin")
    admin.callback_query.filter(IsAdmin())
    admin.message.filter(IsAdmin())
    admin.callback_query.register(new_pressed, TplCb.filter(F.action == cb.NEW))
    admin.callback_query.register(
        edit_pressed, TplCb.filter(F.action.in_(set(EDIT_FIELDS))), OwnTemplate()
    )
    admin.callback_query.register(
        toggle_pressed, TplCb.filter(F.action.in_(set(_SWITCHES))), OwnTemplate()
    )
    admin.callback_query.register(
        delete_pressed, TplCb.filter(F.action == cb.DELETE), OwnTemplate()
    )
    admin.callback_query.register(
        delete_confirmed, TplCb.filter(F.action == cb.DELETE_SURE), OwnTemplate()
    )
    admin.message.register(
        new_answered, Answering(NEW_NAME, NEW_KEYWORDS, NEW_TITLE, NEW_DESCRIPTION)
    )
    admin.message.register(edit_answered, Answering(*EDIT_KINDS))
    admin.message.register(file_received, F.document, is_template_file)
    return admin


async def _saved_answer(
    message: Message,
    session: AsyncSession,
    workspace: Workspace,
    body: dict[str, Any],
    row: TemplateRow | None,
    action: str,
    _: Translator,
) -> TemplateRow | ValidationError:
    """Store what the person sent; when it is no valid template, tell them what is wrong."""
    assert message.from_user is not None
    try:
        return await template_service.save(
            session, workspace.id, message.from_user.id, body, row, action
        )
    except ValidationError as exc:
        await session.rollback()
        await message.reply(errors_text(_, exc))
        return exc


async def new_pressed(query: CallbackQuery, arq: ArqRedis, _: Translator) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        user = query.from_user
        await open_prompt(
            query.message, user.id, user.full_name, _("tpl.ask_name"), Ask(NEW_NAME), arq, _
        )


async def new_answered(
    message: Message,
    ask: Ask,
    session: AsyncSession,
    workspace: Workspace,
    arq: ArqRedis,
    _: Translator,
) -> None:
    text = (message.text or "").strip()
    user = message.from_user
    assert user is not None
    data = dict(ask.data)
    asks = Conversations(arq)
    if ask.kind == NEW_NAME:
        name = " ".join(text.split())
        if not 1 <= len(name) <= 100:
            await message.reply(_("tpl.name_length"))
            return
        if await template_service.name_taken(session, workspace.id, name):
            await message.reply(_("tpl.name_taken", name=html.escape(name)))
            return
        data["name"] = name
        following, prompt = NEW_KEYWORDS, _("tpl.ask_keywords")
    elif ask.kind == NEW_KEYWORDS:
        data["keywords"] = keywords(text)
        following, prompt = NEW_TITLE, _("tpl.ask_title")
    elif ask.kind == NEW_TITLE:
        _answer(data, "title_template", text)
        following, prompt = NEW_DESCRIPTION, _("tpl.ask_description")
    else:
        _answer(data, "description_template", text)
        following, prompt = "", ""
    await asks.close(message.chat.id, user.id, ask.prompt)
    if following:
        await open_prompt(
            message, user.id, user.full_name, prompt, Ask(following, data=data), arq, _
        )
        return
    body = template_service.new_body(
        data["name"],
        data["keywords"],
        data.get("title_template"),
        data.get("description_template"),
    )
    row = await _saved_answer(message, session, workspace, body, None, "template_created", _)
    if isinstance(row, ValidationError):
        # Start the failing step again rather than the whole dialogue.
        retry, key, field = (
            (NEW_TITLE, "tpl.ask_title", "title_template")
            if "title_template" in str(row)
            else (NEW_DESCRIPTION, "tpl.ask_description", "description_template")
        )
        data.pop(field, None)
        await open_prompt(message, user.id, user.full_name, _(key), Ask(retry, data=data), arq, _)
        return
    text, markup = await card_view(
        _, session, workspace, row, _("tpl.created", name=html.escape(row.name))
    )
    await message.answer(text, reply_markup=markup)


def _answer(data: dict[str, Any], key: str, text: str) -> None:
    # "-" keeps the default, also in place of an answer refused before.
    if text == "-":
        data.pop(key, None)
    else:
        data[key] = text


def keywords(text: str) -> list[str]:
    if text.strip() in ("", "-"):
        return []
    return [w.strip() for w in re.split(r"[,\n;]+", text) if w.strip()][:50]


async def edit_pressed(
    query: CallbackQuery, callback_data: TplCb, template: TemplateRow, arq: ArqRedis, _: Translator
) -> None:
    await query.answer()
    if not isinstance(query.message, Message):
        return
    kind, key = EDIT_FIELDS[callback_data.action]
    ask = Ask(kind, idx=template.id, data={"card": query.message.message_id})
    user = query.from_user
    await open_prompt(query.message, user.id, user.full_name, _(key), ask, arq, _)


async def edit_answered(
    message: Message,
    ask: Ask,
    session: AsyncSession,
    workspace: Workspace,
    arq: ArqRedis,
    bot: Bot,
    _: Translator,
) -> None:
    user = message.from_user
    assert user is not None
    row = await template_service.find(session, workspace.id, ask.idx)
    if row is None:
        await Conversations(arq).close(message.chat.id, user.id, ask.prompt)
        await message.reply(_("tpl.gone"))
        return
    text = (message.text or "").strip()
    action = EDIT_KINDS[ask.kind]
    value: str | list[str] | int = text
    if action == cb.KEYWORDS:
        value = keywords(text)
    elif action == cb.PRIORITY:
        try:
            value = int(text)
        except ValueError:
            await message.reply(_("tpl.priority_number"))
            return
    body = template_service.changed_field(row.body, _FIELDS[action], value)
    saved = await _saved_answer(message, session, workspace, body, row, "template_changed", _)
    if isinstance(saved, ValidationError):
        return
    await Conversations(arq).close(message.chat.id, user.id, ask.prompt)
    await message.reply(_("tpl.saved"))
    card = ask.data.get("card")
    if isinstance(card, int):
        text, markup = await card_view(_, session, workspace, saved)
        try:
            await bot.edit_message_text(
                text=text, chat_id=message.chat.id, message_id=card, reply_markup=markup
            )
        except Exception as exc:  # the card may be gone; the change is saved either way
            log.debug("template card not updated: %s", exc)


async def toggle_pressed(
    query: CallbackQuery,
    callback_data: TplCb,
    template: TemplateRow,
    session: AsyncSession,
    workspace: Workspace,
    _: Translator,
) -> None:
    body = template_service.toggled(template.body, _SWITCHES[callback_data.action], callback_data.p)
    if body is None:
        await query.answer()
        return
    try:
        row = await template_service.save(
            session, workspace.id, query.from_user.id, body, template, "template_changed"
        )
    except ValidationError as exc:
        await session.rollback()
        await query.answer(_("tpl.invalid_short"), show_alert=True)
        log.warning("template %s toggle refused: %s", template.id, exc)
        return
    await query.answer(_("tpl.saved"))
    await show_card(query, session, workspace, row, _)


async def delete_pressed(query: CallbackQuery, template: TemplateRow, _: Translator) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text(
            _("tpl.delete_confirm", name=html.escape(template.name)),
            reply_markup=keyboards.confirm_delete(_, template.id),
        )


async def delete_confirmed(
    query: CallbackQuery,
    template: TemplateRow,
    session: AsyncSession,
    workspace: Workspace,
    _: Translator,
) -> None:
    name = template.name
    await template_service.delete(session, workspace.id, query.from_user.id, template)
    await query.answer(_("tpl.deleted", name=name))
    await show_list(query, session, workspace, _)


async def file_received(
    message: Message,
    session: AsyncSession,
    workspace: Workspace,
    bot: Bot,
    _: Translator,
) -> None:
    document = message.document
    user = message.from_user
    assert document is not None and user is not None
    if (document.file_size or 0) > MAX_FILE_BYTES:
        await message.reply(_("tpl.file_too_big", limit_kb=MAX_FILE_BYTES // 1024))
        return
    buffer = io.BytesIO()
    await bot.download(document, destination=buffer)
    try:
        body = template_service.load_file(document.file_name or "", buffer.getvalue())
    except TemplateFileError as exc:
        await message.reply(
            _("tpl.not_a_mapping") if exc.not_a_mapping else errors_text(_, str(exc))
        )
        return
    row = await _saved_answer(message, session, workspace, body, None, "template_uploaded", _)
    if isinstance(row, ValidationError):
        return
    text, markup = await card_view(
        _, session, workspace, row, _("tpl.uploaded", name=html.escape(row.name))
    )
    await message.reply(text, reply_markup=markup)
