"""/templates: how recordings are titled, described and published, per matching rule.

Everyone may look at templates, preview one on the latest processed recording and download
it as a file: those handlers are here, on the members' router. Admins create a template in a
short dialogue or by sending a YAML/JSON file and change any part of it from its card: those
handlers are in `bot.handlers.template_edits`, on a router only admins get past, included
first. A change pressed by anyone else reaches the refusals.

Handlers parse and answer; the steps (validating by `pipeline.templates.Template`, storing,
auditing, previewing in `pipeline.template_runner`'s child process) are
`jobs.template_service`'s, the texts `bot.template_cards`'. A template too costly to preview
gets a message saying so in the person's language.
"""

from __future__ import annotations

import html
import logging

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import BufferedInputFile, CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import templates as cb
from bot.callbacks.templates import TplCb
from bot.filters import IsAdmin, OwnTemplate, refuse_non_admin, refuse_non_admin_message
from bot.handlers import template_edits
from bot.handlers.template_edits import is_template_file
from bot.keyboards import templates as keyboards
from bot.template_cards import list_text, show_card, show_list
from jobs import cards, template_service
from locales import Translator
from pipeline import templates
from storage import repo
from storage.files import MediaStore
from storage.models import Template as TemplateRow
from storage.models import Workspace

log = logging.getLogger(__name__)


def make_router() -> Router:
    router = Router(name=__name__)
    router.message.register(templates_command, Command("templates"))
    router.include_routers(template_edits.admin_router(), _members_router(), _refused_router())
    return router


# --- looking: everyone (the members' router) -------------------------------------------


def _members_router() -> Router:
    members = Router(name=f"{__name__}.members")
    members.callback_query.register(list_pressed, TplCb.filter(F.action == cb.LIST))
    members.callback_query.register(open_pressed, TplCb.filter(F.action == cb.OPEN), OwnTemplate())
    members.callback_query.register(
        preview_pressed, TplCb.filter(F.action == cb.PREVIEW), OwnTemplate()
    )
    members.callback_query.register(file_pressed, TplCb.filter(F.action == cb.FILE), OwnTemplate())
    return members


async def templates_command(
    message: Message, session: AsyncSession, workspace: Workspace, _: Translator
) -> None:
    rows = list(await repo.templates(session, workspace.id))
    await message.answer(list_text(_, rows), reply_markup=keyboards.template_list(_, rows))


async def list_pressed(
    query: CallbackQuery, session: AsyncSession, workspace: Workspace, _: Translator
) -> None:
    await query.answer()
    await show_list(query, session, workspace, _)


async def open_pressed(
    query: CallbackQuery,
    template: TemplateRow,
    session: AsyncSession,
    workspace: Workspace,
    _: Translator,
) -> None:
    await query.answer()
    await show_card(query, session, workspace, template, _)


async def preview_pressed(
    query: CallbackQuery,
    template: TemplateRow,
    session: AsyncSession,
    workspace: Workspace,
    store: MediaStore,
    _: Translator,
) -> None:
    body = template_service.parsed(template)
    if body is None or not isinstance(query.message, Message):
        await query.answer()
        return
    try:
        shown = await template_service.preview(session, workspace.id, store, body)
    except templates.TemplateTooCostly:
        await query.answer()
        await query.message.reply(_("tpl.preview_too_costly"))
        return
    except templates.TemplateError as exc:
        await query.answer()
        await query.message.reply(_("tpl.preview_failed", reason=html.escape(str(exc))))
        return
    if shown is None:
        await query.answer(_("tpl.preview_none"), show_alert=True)
        return
    await query.answer()
    description = html.escape(shown.metadata.description)
    limit = cards.MAX_TEXT - 400
    if len(description) > limit:
        description = description[:limit] + "…"
    await query.message.reply(
        _(
            "tpl.preview",
            recording=html.escape(cards.display_name(shown.recording)),
            title=html.escape(shown.metadata.title),
            description=description,
        )
    )


async def file_pressed(query: CallbackQuery, template: TemplateRow, _: Translator) -> None:
    await query.answer()
    if not isinstance(query.message, Message):
        return
    filename, content = template_service.as_yaml(template)
    await query.message.answer_document(
        BufferedInputFile(content, filename=filename),
        caption=_("tpl.file_caption", name=html.escape(template.name)),
    )


# --- refusals --------------------------------------------------------------------------------


def _refused_router() -> Router:
    refused = Router(name=f"{__name__}.refused")
    refused.callback_query.register(
        refuse_non_admin, TplCb.filter(F.action.in_(cb.CHANGES)), ~IsAdmin()
    )
    refused.message.register(refuse_non_admin_message, F.document, is_template_file)
    refused.callback_query.register(_gone, TplCb.filter())
    return refused


async def _gone(query: CallbackQuery, workspace: Workspace, _: Translator) -> None:
    # Deleted meanwhile, or an id from another workspace: either way nothing to show.
    log.warning("template button %s refused in workspace %s", query.data, workspace.id)
    await query.answer(_("tpl.gone"), show_alert=True)
