"""/terms: the chat's key terms, and a template's own from its /templates card.

Everyone may look (``/terms`` alone); only admins change: ``/terms A, B, C`` replaces the
chat's list, ``/terms -`` clears it, and a template card's key-terms button asks for the
template's list. Permissions are the routers' shape: the admin router's IsAdmin filter covers
every change, and the refusals after it answer anyone else.

Rules:
- A list that breaks a rule (too many terms, one too long) is refused with the reason and
  nothing is stored; a template's prompt stays open for another answer.
- After a change the answer says how many terms were saved and, when the speech engine's
  prompt cannot hold them all, which are left out of it (they still reach the language
  model). A template's count is of its terms with the chat's own, as a recording hears them.
- The steps (cleaning, storing, auditing) are `jobs.terms`' and `jobs.template_service`'s.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message
from arq.connections import ArqRedis
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.conversation import Answering, Ask, Conversations, open_prompt
from bot.filters import IsAdmin, OwnTemplate, refuse_non_admin, refuse_non_admin_message
from bot.template_cards import card_view, errors_text
from bot.terms_card import TermsCb, shown
from jobs import template_service
from jobs import terms as key_terms
from locales import Translator
from storage.models import Role, Workspace, WorkspaceKind
from storage.models import Template as TemplateRow

log = logging.getLogger(__name__)

TEMPLATE_TERMS = "tpl_terms"
# How many left-out terms an answer names before it only counts them.
_NAMED = 10


def _with_list(message: Message) -> bool:
    """``/terms`` followed by a list (or "-"), not ``/terms`` alone."""
    return len((message.text or "").split(maxsplit=1)) == 2


def _alone(message: Message) -> bool:
    return not _with_list(message)


def _listed(terms: Sequence[str]) -> str:
    return ", ".join(f"<code>{html.escape(t)}</code>" for t in terms)


def _dropped_line(_: Translator, terms: Sequence[str]) -> str:
    prompt = key_terms.speech_prompt(terms)
    if not prompt.dropped:
        return ""
    names = shown(list(prompt.dropped[:_NAMED]))
    if len(prompt.dropped) > _NAMED:
        names += ", …"
    return _("terms.dropped", kept=len(prompt.kept), count=len(prompt.dropped), names=names)


def _refusal(_: Translator, exc: key_terms.TermsError) -> str:
    if exc.code == "too_long":
        return _("terms.too_long", term=html.escape(exc.term[:80]), max=key_terms.MAX_TERM_CHARS)
    return _("terms.too_many", count=exc.count, max=key_terms.MAX_TERMS)


# --- looking: everyone -------------------------------------------------------------------


async def show_terms(
    message: Message, workspace: Workspace, _: Translator, role: Role | None = None
) -> None:
    terms = key_terms.workspace_terms(workspace)
    lines = [_("terms.heading", count=len(terms)) if terms else _("terms.none")]
    if terms:
        lines.append(_listed(terms))
    lines += ["", _("terms.about")]
    if role is not None and role.is_admin:
        lines.append(_("terms.how", max=key_terms.MAX_TERMS, chars=key_terms.MAX_TERM_CHARS))
    elif workspace.kind is WorkspaceKind.GROUP:
        lines.append(_("terms.members_note"))
    dropped = _dropped_line(_, terms)
    if dropped:
        lines += ["", dropped]
    await message.answer("\n".join(lines))


# --- changing: admins --------------------------------------------------------------------


async def replace_terms(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    workspace: Workspace,
    _: Translator,
) -> None:
    assert message.from_user is not None
    try:
        terms = key_terms.parse_terms(command.args or "")
    except key_terms.TermsError as exc:
        await message.reply(_refusal(_, exc))
        return
    saved = await key_terms.replace_workspace_terms(session, workspace, message.from_user.id, terms)
    if not saved:
        await message.reply(_("terms.cleared"))
        return
    lines = [_("terms.saved", count=len(saved)), _listed(saved)]
    dropped = _dropped_line(_, saved)
    if dropped:
        lines += ["", dropped]
    await message.reply("\n".join(lines))


async def template_terms_pressed(
    query: CallbackQuery, template: TemplateRow, arq: ArqRedis, _: Translator
) -> None:
    await query.answer()
    if not isinstance(query.message, Message):
        return
    ask = Ask(TEMPLATE_TERMS, idx=template.id, data={"card": query.message.message_id})
    user = query.from_user
    text = _("terms.template_ask", name=html.escape(template.name), max=key_terms.MAX_TERMS)
    await open_prompt(query.message, user.id, user.full_name, text, ask, arq, _)


async def template_terms_answered(
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
    try:
        terms = key_terms.parse_terms(message.text or "")
    except key_terms.TermsError as exc:
        await message.reply(_refusal(_, exc))
        return
    try:
        saved = await template_service.save(
            session, workspace.id, user.id, {**row.body, "terms": terms}, row, "template_changed"
        )
    except ValidationError as exc:
        await session.rollback()
        await message.reply(errors_text(_, exc))
        return
    await Conversations(arq).close(message.chat.id, user.id, ask.prompt)
    name = html.escape(saved.name)
    if terms:
        lines = [_("terms.template_saved", name=name, count=len(terms))]
        heard = key_terms.merged(key_terms.workspace_terms(workspace), terms)
        dropped = _dropped_line(_, heard)
        if dropped:
            lines += ["", dropped]
        await message.reply("\n".join(lines))
    else:
        await message.reply(_("terms.template_cleared", name=name))
    card = ask.data.get("card")
    if isinstance(card, int):
        text, markup = await card_view(_, session, workspace, saved)
        try:
            await bot.edit_message_text(
                text=text, chat_id=message.chat.id, message_id=card, reply_markup=markup
            )
        except Exception as exc:  # the card may be gone; the change is saved either way
            log.debug("template card not updated: %s", exc)


def make_router() -> Router:
    router = Router(name=__name__)

    admin = Router(name=f"{__name__}.admin")
    admin.message.filter(IsAdmin())
    admin.callback_query.filter(IsAdmin())
    admin.message.register(replace_terms, Command("terms"), _with_list)
    admin.callback_query.register(template_terms_pressed, TermsCb.filter(), OwnTemplate())
    admin.message.register(template_terms_answered, Answering(TEMPLATE_TERMS))

    members = Router(name=f"{__name__}.members")
    members.message.register(show_terms, Command("terms"), _alone)

    refused = Router(name=f"{__name__}.refused")
    refused.message.register(refuse_non_admin_message, Command("terms"))
    refused.callback_query.register(refuse_non_admin, TermsCb.filter())

    router.include_routers(admin, members, refused)
    return router
