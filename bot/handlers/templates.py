"""/templates: how recordings are titled, described and published, per matching rule.

Admins create a template in a short dialogue or by sending a YAML/JSON file, and change any
part of it from its card; every change is validated by `pipeline.templates.Template` and
audited. Everyone may look at templates and preview one on the latest processed recording.
A preview renders in `pipeline.template_runner`'s child process, never on the event loop, and a
template too costly to render gets a message saying so in the person's language.
"""

from __future__ import annotations

import html
import io
import json
import logging
import re
from pathlib import PurePath
from typing import Any

import yaml
from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardMarkup, Message
from arq.connections import ArqRedis
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import templates as cb
from bot.callbacks.templates import TplCb
from bot.conversation import Answering, Ask, Conversations, open_prompt
from bot.filters import (
    IsAdmin,
    OwnTemplate,
    refuse_non_admin,
    refuse_non_admin_message,
)
from bot.keyboards import templates as keyboards
from jobs import cards, control, files
from jobs.compose import recording_facts
from jobs.publish import PLATFORMS
from locales import Translator
from pipeline import template_runner, templates
from pipeline.topics import Topics
from storage import repo
from storage.files import MediaStore
from storage.models import Recording, Workspace
from storage.models import Template as TemplateRow

log = logging.getLogger(__name__)

FILE_EXTS = frozenset({"yaml", "yml", "json"})
MAX_FILE_BYTES = 256 * 1024
_SOURCE_SHOWN = 600

# The creation dialogue, one answer per step; edits of one field of an existing template.
NEW_NAME, NEW_KEYWORDS, NEW_TITLE, NEW_DESCRIPTION = "tpl_name", "tpl_kw", "tpl_ttl", "tpl_dsc"
EDIT_FIELDS = {
    cb.TITLE: ("tpl_edit_ttl", "tpl.ask_title"),
    cb.DESCRIPTION: ("tpl_edit_dsc", "tpl.ask_description"),
    cb.KEYWORDS: ("tpl_edit_kw", "tpl.ask_keywords"),
    cb.PRIORITY: ("tpl_edit_pri", "tpl.ask_priority"),
}
EDIT_KINDS = {kind: action for action, (kind, _key) in EDIT_FIELDS.items()}


def is_template_file(message: Message) -> bool:
    document = message.document
    if document is None:
        return False
    ext = PurePath(document.file_name or "").suffix.lower().lstrip(".")
    return ext in FILE_EXTS


# --- showing ------------------------------------------------------------------------------


def parsed(row: TemplateRow) -> templates.Template | None:
    try:
        return templates.Template.model_validate(row.body)
    except ValidationError:
        return None


def list_text(_: Translator, rows: list[TemplateRow]) -> str:
    lines = [_("tpl.heading")]
    for row in rows:
        template = parsed(row)
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
    template = parsed(row)
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
    ]
    if not template.enabled:
        lines.append(_("tpl.card_disabled"))
    matched = await _last_matched(session, workspace, template.name)
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
    template = parsed(row)
    markup = keyboards.template_card(_, row.id, template, PLATFORMS) if template else None
    return (f"{heading}\n\n{text}" if heading else text), markup


def _code(source: str) -> str:
    shown = source if len(source) <= _SOURCE_SHOWN else source[: _SOURCE_SHOWN - 1] + "…"
    return f"<code>{html.escape(shown)}</code>"


async def _last_matched(session: AsyncSession, workspace: Workspace, name: str) -> Recording | None:
    for recording in await repo.list_recordings(session, workspace.id, limit=50):
        if recording.media.get("compose", {}).get("template") == name:
            return recording
    return None


async def templates_command(
    message: Message, session: AsyncSession, workspace: Workspace, _: Translator
) -> None:
    rows = list(await repo.templates(session, workspace.id))
    await message.answer(list_text(_, rows), reply_markup=keyboards.template_list(_, rows))


async def list_pressed(
    query: CallbackQuery, session: AsyncSession, workspace: Workspace, _: Translator
) -> None:
    await query.answer()
    await _show_list(query, session, workspace, _)


async def _show_list(
    query: CallbackQuery, session: AsyncSession, workspace: Workspace, _: Translator
) -> None:
    rows = list(await repo.templates(session, workspace.id))
    if isinstance(query.message, Message):
        await query.message.edit_text(
            list_text(_, rows), reply_markup=keyboards.template_list(_, rows)
        )


async def open_pressed(
    query: CallbackQuery,
    template: TemplateRow,
    session: AsyncSession,
    workspace: Workspace,
    _: Translator,
) -> None:
    await query.answer()
    await _show_card(query, session, workspace, template, _)


async def _show_card(
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


async def preview_pressed(
    query: CallbackQuery,
    template: TemplateRow,
    session: AsyncSession,
    workspace: Workspace,
    store: MediaStore,
    _: Translator,
) -> None:
    body = parsed(template)
    if body is None or not isinstance(query.message, Message):
        await query.answer()
        return
    found = await _latest_processed(session, workspace, store)
    if found is None:
        await query.answer(_("tpl.preview_none"), show_alert=True)
        return
    recording, topics = found
    try:
        metadata = await template_runner.compose_metadata(
            body, recording_facts(recording), topics, control.video_duration(recording)
        )
    except templates.TemplateTooCostly:
        await query.answer()
        await query.message.reply(_("tpl.preview_too_costly"))
        return
    except templates.TemplateError as exc:
        await query.answer()
        await query.message.reply(_("tpl.preview_failed", reason=html.escape(str(exc))))
        return
    await query.answer()
    description = html.escape(metadata.description)
    limit = cards.MAX_TEXT - 400
    if len(description) > limit:
        description = description[:limit] + "…"
    await query.message.reply(
        _(
            "tpl.preview",
            recording=html.escape(cards.display_name(recording)),
            title=html.escape(metadata.title),
            description=description,
        )
    )


async def _latest_processed(
    session: AsyncSession, workspace: Workspace, store: MediaStore
) -> tuple[Recording, Topics] | None:
    for recording in await repo.list_recordings(session, workspace.id, limit=20):
        # With media in a bucket the topics may exist only there (made on a worker elsewhere).
        path = await store.fetch(workspace.id, recording.id, files.TOPICS)
        if not path.is_file():
            continue
        try:
            return recording, Topics.load_json(path)
        except (OSError, ValueError):
            continue
    return None


async def file_pressed(query: CallbackQuery, template: TemplateRow, _: Translator) -> None:
    await query.answer()
    if not isinstance(query.message, Message):
        return
    text = yaml.safe_dump(template.body, allow_unicode=True, sort_keys=False)
    name = re.sub(r"[^\w.-]+", "_", template.name)[:60] or f"template-{template.id}"
    await query.message.answer_document(
        BufferedInputFile(text.encode("utf-8"), filename=f"{name}.yaml"),
        caption=_("tpl.file_caption", name=html.escape(template.name)),
    )


# --- changing -----------------------------------------------------------------------------


async def save(
    session: AsyncSession,
    workspace: Workspace,
    user_id: int,
    body: dict[str, Any],
    row: TemplateRow | None,
    action: str,
) -> TemplateRow:
    """Validate and store a template body; raises ValidationError with what is wrong."""
    template = templates.Template.model_validate(body)
    clean = template.model_dump(mode="json")
    if row is None:
        row = next(
            (r for r in await repo.templates(session, workspace.id) if r.name == template.name),
            None,
        )
    if row is None:
        row = TemplateRow(workspace_id=workspace.id, name=template.name)
        session.add(row)
    row.name = template.name
    row.priority = template.priority
    row.body = clean
    await session.flush()
    await repo.audit(session, workspace.id, user_id, action, f"template:{row.id}", name=row.name)
    await session.commit()
    return row


def errors_text(_: Translator, exc: ValidationError | str) -> str:
    if isinstance(exc, str):
        return _("tpl.invalid", errors=html.escape(exc))
    lines = []
    for error in exc.errors()[:10]:
        where = ".".join(str(part) for part in error["loc"]) or "—"
        lines.append(f"• <code>{html.escape(where)}</code>: {html.escape(error['msg'])}")
    return _("tpl.invalid", errors="\n".join(lines))


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
        return await save(session, workspace, message.from_user.id, body, row, action)
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
        if any(r.name == name for r in await repo.templates(session, workspace.id)):
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
    body: dict[str, Any] = {"name": data["name"], "match": {"keywords_any": data["keywords"]}}
    for key in ("title_template", "description_template"):
        if key in data:
            body[key] = data[key]
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
    row = next((r for r in await repo.templates(session, workspace.id) if r.id == ask.idx), None)
    if row is None:
        await Conversations(arq).close(message.chat.id, user.id, ask.prompt)
        await message.reply(_("tpl.gone"))
        return
    text = (message.text or "").strip()
    body = dict(row.body)
    action = EDIT_KINDS[ask.kind]
    if action == cb.TITLE:
        body["title_template"] = templates.DEFAULT_TITLE_TEMPLATE if text == "-" else text
    elif action == cb.DESCRIPTION:
        body["description_template"] = (
            templates.DEFAULT_DESCRIPTION_TEMPLATE if text == "-" else text
        )
    elif action == cb.KEYWORDS:
        body["match"] = {**dict(body.get("match") or {}), "keywords_any": keywords(text)}
    else:
        try:
            body["priority"] = int(text)
        except ValueError:
            await message.reply(_("tpl.priority_number"))
            return
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
    body = dict(template.body)
    if callback_data.action == cb.AUTO:
        body["auto_publish"] = not body.get("auto_publish", False)
    elif callback_data.action == cb.ENABLED:
        body["enabled"] = not body.get("enabled", True)
    else:
        if callback_data.p not in PLATFORMS:
            await query.answer()
            return
        chosen = list(body.get("platforms") or [])
        chosen = (
            [p for p in chosen if p != callback_data.p]
            if callback_data.p in chosen
            else [
                *chosen,
                callback_data.p,
            ]
        )
        body["platforms"] = [p for p in PLATFORMS if p in chosen]
    try:
        row = await save(session, workspace, query.from_user.id, body, template, "template_changed")
    except ValidationError as exc:
        await session.rollback()
        await query.answer(_("tpl.invalid_short"), show_alert=True)
        log.warning("template %s toggle refused: %s", template.id, exc)
        return
    await query.answer(_("tpl.saved"))
    await _show_card(query, session, workspace, row, _)


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
    await repo.audit(
        session,
        workspace.id,
        query.from_user.id,
        "template_deleted",
        f"template:{template.id}",
        name=name,
    )
    await session.delete(template)
    await session.commit()
    await query.answer(_("tpl.deleted", name=name))
    await _show_list(query, session, workspace, _)


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
    raw = buffer.getvalue()
    try:
        text = raw.decode("utf-8-sig")
        if (document.file_name or "").lower().endswith(".json"):
            body = json.loads(text)
        else:
            body = yaml.safe_load(text)
    except (UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
        await message.reply(errors_text(_, _parse_error(exc)))
        return
    if not isinstance(body, dict):
        await message.reply(_("tpl.not_a_mapping"))
        return
    row = await _saved_answer(message, session, workspace, body, None, "template_uploaded", _)
    if isinstance(row, ValidationError):
        return
    text, markup = await card_view(
        _, session, workspace, row, _("tpl.uploaded", name=html.escape(row.name))
    )
    await message.reply(text, reply_markup=markup)


def _parse_error(exc: Exception) -> str:
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:
        return f"line {mark.line + 1}, column {mark.column + 1}: {getattr(exc, 'problem', exc)}"
    if isinstance(exc, json.JSONDecodeError):
        return f"line {exc.lineno}, column {exc.colno}: {exc.msg}"
    return str(exc)


def make_router() -> Router:
    router = Router(name=__name__)
    router.message.register(templates_command, Command("templates"))

    admin = Router(name=f"{__name__}.admin")
    admin.callback_query.filter(IsAdmin())
    admin.message.filter(IsAdmin())
    admin.callback_query.register(new_pressed, TplCb.filter(F.action == cb.NEW))
    admin.callback_query.register(
        edit_pressed, TplCb.filter(F.action.in_(set(EDIT_FIELDS))), OwnTemplate()
    )
    admin.callback_query.register(
        toggle_pressed,
        TplCb.filter(F.action.in_({cb.AUTO, cb.ENABLED, cb.PLATFORM})),
        OwnTemplate(),
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

    members = Router(name=f"{__name__}.members")
    members.callback_query.register(list_pressed, TplCb.filter(F.action == cb.LIST))
    members.callback_query.register(open_pressed, TplCb.filter(F.action == cb.OPEN), OwnTemplate())
    members.callback_query.register(
        preview_pressed, TplCb.filter(F.action == cb.PREVIEW), OwnTemplate()
    )
    members.callback_query.register(file_pressed, TplCb.filter(F.action == cb.FILE), OwnTemplate())

    refused = Router(name=f"{__name__}.refused")
    refused.callback_query.register(
        refuse_non_admin, TplCb.filter(F.action.in_(cb.CHANGES)), ~IsAdmin()
    )
    refused.message.register(refuse_non_admin_message, F.document, is_template_file)
    refused.callback_query.register(_gone, TplCb.filter())

    router.include_routers(admin, members, refused)
    return router


async def _gone(query: CallbackQuery, workspace: Workspace, _: Translator) -> None:
    # Deleted meanwhile, or an id from another workspace: either way nothing to show.
    log.warning("template button %s refused in workspace %s", query.data, workspace.id)
    await query.answer(_("tpl.gone"), show_alert=True)
