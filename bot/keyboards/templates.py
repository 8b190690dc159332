"""Keyboards of /templates: the list and one template's card."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import templates as cb
from bot.callbacks.templates import TplCb
from locales import Translator
from pipeline.templates import Template
from storage.models import Template as TemplateRow

_LABEL = 40


def template_list(_: Translator, rows: Sequence[TemplateRow]) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for row in rows:
        name = row.name if len(row.name) <= _LABEL else row.name[: _LABEL - 1] + "…"
        builder.button(text=f"🧩 {name}", callback_data=TplCb(action=cb.OPEN, tpl=row.id))
    builder.button(text=_("tpl.button_new"), callback_data=TplCb(action=cb.NEW))
    builder.adjust(1)
    return builder.as_markup()


def template_card(
    _: Translator, row_id: int, template: Template, platforms: Sequence[str]
) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for action, key in (
        (cb.TITLE, "tpl.button_title"),
        (cb.DESCRIPTION, "tpl.button_description"),
        (cb.KEYWORDS, "tpl.button_keywords"),
        (cb.PRIORITY, "tpl.button_priority"),
    ):
        builder.button(text=_(key), callback_data=TplCb(action=action, tpl=row_id))
    auto = _("prefs.on") if template.auto_publish else _("prefs.off")
    builder.button(
        text=_("tpl.button_auto", state=auto), callback_data=TplCb(action=cb.AUTO, tpl=row_id)
    )
    enabled = _("tpl.button_enabled") if template.enabled else _("tpl.button_disabled")
    builder.button(text=enabled, callback_data=TplCb(action=cb.ENABLED, tpl=row_id))
    builder.button(
        text=_("granularity.template_button", choice=_(f"granularity.{template.granularity}")),
        callback_data=TplCb(action=cb.GRANULARITY, tpl=row_id),
    )
    for platform in platforms:
        mark = "✅" if platform in template.platforms else "▫️"
        builder.button(
            text=f"{mark} {_(f'review.platform_{platform}')}",
            callback_data=TplCb(action=cb.PLATFORM, tpl=row_id, p=platform),
        )
    builder.button(text=_("tpl.button_preview"), callback_data=TplCb(action=cb.PREVIEW, tpl=row_id))
    builder.button(text=_("tpl.button_file"), callback_data=TplCb(action=cb.FILE, tpl=row_id))
    builder.button(text=_("tpl.button_delete"), callback_data=TplCb(action=cb.DELETE, tpl=row_id))
    builder.button(text=_("tpl.button_list"), callback_data=TplCb(action=cb.LIST))
    builder.adjust(2, 2, 2, 1, *([2] * (len(platforms) // 2)), *([1] * (len(platforms) % 2)), 2, 2)
    return builder.as_markup()


def confirm_delete(_: Translator, row_id: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=_("tpl.button_delete_sure"), callback_data=TplCb(action=cb.DELETE_SURE, tpl=row_id)
    )
    builder.button(text=_("recs.button_keep"), callback_data=TplCb(action=cb.OPEN, tpl=row_id))
    builder.adjust(2)
    return builder.as_markup()
