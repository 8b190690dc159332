"""What /templates shows: the list, one template's card, and what is wrong with a body.

Rules:
- Everything a person typed (names, keywords, template sources, validation messages) is
  HTML-escaped before it reaches a message; a template's sources are shown cut to
  _SOURCE_SHOWN characters and a card to one message.
- A stored body that no longer validates is listed as invalid rather than hidden.
- Showing the list or a card edits the message pressed; a card that did not change
  (Telegram's "not modified") is no error.
- A card says which recording the template was last used for, or that it has matched none.
"""

from __future__ import annotations

import html
import logging

from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.keyboards import templates as keyboards
from bot.terms_card import card_line, with_terms_button
from jobs import cards, template_service
from jobs.cards.presets import template_line, with_presets_button
from jobs.publish import PLATFORMS
from locales import Translator
from pipeline import templates
from storage import repo
from storage.models import Template as TemplateRow
from storage.models import Workspace

__all__ = ["card_view", "errors_text", "list_text", "show_card", "show_list"]

log = logging.getLogger(__name__)

_SOURCE_SHOWN = 600


def list_text(_: Translator, rows: list[TemplateRow]) -> str:
    lines = [_("tpl.heading")]
    for row in rows:
        template = template_service.parsed(row)
        if template is None:
            lines.append(_("tpl.item_invalid", name=html.escape(row.name)))
            continue
        rule = _rule(_, template)
        state = "" if template.enabled else _("tpl.disabled_mark")
        lines.append(
            _("tpl.item", name=html.escape(row.name), priority=template.priority, rule=rule) + state
        )
    if not rows:
        lines.append(_("tpl.none"))
    lines += ["", _("tpl.default_note"), _("tpl.file_hint")]
    return "\n".join(lines)


def _rule(_: Translator, template: templates.Template) -> str:
    match = template.match
    if match.keywords_any:
        return _("tpl.rule_keywords", words=html.escape(", ".join(match.keywords_any)))
    if match.keywords_all or match.regexes or match.source_kinds or match.accounts:
        return _("tpl.rule_custom")
    return _("tpl.rule_all")


async def card_text(
    _: Translator, session: AsyncSession, workspace: Workspace, row: TemplateRow
) -> str:
    template = template_service.parsed(row)
    if template is None:
        return _("tpl.item_invalid", name=html.escape(row.name))
    platforms = ", ".join(cards.platform_name(_.lang, p) for p in template.platforms)
    lines = [
        _("tpl.card_title", name=html.escape(template.name), priority=template.priority),
        _("tpl.card_rule", rule=_rule(_, template)),
        _("tpl.card_title_template", source=_code(template.title_template)),
        _("tpl.card_description_template", source=_code(template.description_template)),
        _("tpl.card_platforms", platforms=platforms or _("tpl.platforms_default")),
        _("tpl.card_auto", state=_("prefs.on") if template.auto_publish else _("prefs.off")),
        template_line(_, template),
        card_line(_, template),
    ]
    if not template.enabled:
        lines.append(_("tpl.card_disabled"))
    matched = await template_service.last_matched(session, workspace.id, template.name)
    if matched is not None:
        lines.append(
            _("tpl.card_matched", name=html.escape(cards.display_name(matched)), id=matched.id)
        )
    else:
        lines.append(_("tpl.card_not_matched"))
    return cards.fit("\n".join(lines))


async def card_view(
    _: Translator,
    session: AsyncSession,
    workspace: Workspace,
    row: TemplateRow,
    heading: str = "",
) -> tuple[str, InlineKeyboardMarkup | None]:
    """A template's card with its buttons, under `heading` when one is given."""
    text = await card_text(_, session, workspace, row)
    template = template_service.parsed(row)
    markup = keyboards.template_card(_, row.id, template, PLATFORMS) if template else None
    markup = with_presets_button(_, markup, row.id)
    markup = with_terms_button(_, markup, row.id)
    return (f"{heading}\n\n{text}" if heading else text), markup


def _code(source: str) -> str:
    shown = source if len(source) <= _SOURCE_SHOWN else source[: _SOURCE_SHOWN - 1] + "…"
    return f"<code>{html.escape(shown)}</code>"


def errors_text(_: Translator, exc: ValidationError | str) -> str:
    if isinstance(exc, str):
        return _("tpl.invalid", errors=html.escape(exc))
    lines = []
    for error in exc.errors()[:10]:
        where = ".".join(str(part) for part in error["loc"]) or "—"
        lines.append(f"• <code>{html.escape(where)}</code>: {html.escape(error['msg'])}")
    return _("tpl.invalid", errors="\n".join(lines))


async def show_list(
    query: CallbackQuery, session: AsyncSession, workspace: Workspace, _: Translator
) -> None:
    rows = list(await repo.templates(session, workspace.id))
    if isinstance(query.message, Message):
        await query.message.edit_text(
            list_text(_, rows), reply_markup=keyboards.template_list(_, rows)
        )


async def show_card(
    query: CallbackQuery,
    session: AsyncSession,
    workspace: Workspace,
    row: TemplateRow,
    _: Translator,
) -> None:
    if not isinstance(query.message, Message):
        return
    text, markup = await card_view(_, session, workspace, row)
    try:
        await query.message.edit_text(text, reply_markup=markup)
    except Exception as exc:  # "not modified" when a press changed nothing visible
        log.debug("template card not edited: %s", exc)
