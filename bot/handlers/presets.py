"""Publish presets, changed by admins: on a recording's review card or on a template's card.

What is published, and how, is the admins' (the router's IsAdmin filter); anyone else who
presses a presets button is told who can. A press on the card's Presets button (or the
template card's) posts the editor; a choice goes round with each press (privacy, licence,
category, made for kids, notify subscribers, VK privacy), a publication time, a playlist or
an album is typed in answer to a prompt. An answer that is no valid value is refused with
what to write, and the prompt stays open. A recording's changes redraw its review card; a
template's are validated and stored through `jobs.template_service` (audited as a change).

Times are read in the workspace's time zone (``settings["timezone"]``, chosen in /settings),
else UTC; a recording's time keeps that zone's name beside it, to be shown in it.
"""

from __future__ import annotations

import html
import logging
from datetime import UTC, datetime
from typing import Any

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from arq.connections import ArqRedis
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.conversation import Answering, Ask, Conversations, open_prompt
from bot.filters import IsAdmin, refuse_non_admin
from bot.template_cards import errors_text
from jobs import cards, presets_text, template_service
from jobs.cards import presets
from jobs.cards.callbacks import PresetCb
from jobs.cards.presets import (
    DONE,
    PresetError,
    Presets,
    editor_keyboard,
    editor_text,
    recording_heading,
    set_recording_preset,
)
from jobs.cards.review_text import recording_title
from locales import Translator
from storage import repo
from storage.files import MediaStore
from storage.models import Recording, RecordingStatus, Workspace
from storage.models import Template as TemplateRow

log = logging.getLogger(__name__)

ASKS = {"at": "preset_when", "pl": "preset_playlist", "va": "preset_album"}
ASK_KEYS = {"at": "presets.ask_when", "pl": "presets.ask_playlist", "va": "presets.ask_vk_album"}
RECORDING, TEMPLATE = "r", "t"

Target = Recording | TemplateRow


def make_router() -> Router:
    router = Router(name=__name__)
    admin = Router(name=f"{__name__}.admin")
    admin.callback_query.filter(IsAdmin())
    admin.message.filter(IsAdmin())
    admin.callback_query.register(opened, PresetCb.filter(F.f == ""))
    admin.callback_query.register(done, PresetCb.filter(F.f == DONE))
    admin.callback_query.register(cycled, PresetCb.filter(F.f.in_(set(presets.CYCLED))))
    admin.callback_query.register(typed, PresetCb.filter(F.f.in_(set(presets.TYPED))))
    admin.message.register(answered, Answering(*ASKS.values()))
    refused = Router(name=f"{__name__}.refused")
    refused.callback_query.register(refuse_non_admin, PresetCb.filter())
    router.include_routers(admin, refused)
    return router


def _zone(workspace: Workspace) -> Any:
    return presets.zone(str((workspace.settings or {}).get("timezone") or "") or None)


async def _target(
    session: AsyncSession, workspace: Workspace, kind: str, target_id: int
) -> Target | None:
    """The recording under review or the template the button names, in this workspace."""
    if kind == RECORDING:
        recording = await repo.get_recording(session, workspace.id, target_id)
        if recording is None or recording.status is not RecordingStatus.AWAITING_REVIEW:
            return None
        return recording
    if kind == TEMPLATE:
        return await template_service.find(session, workspace.id, target_id)
    return None


async def _editor(
    session: AsyncSession, store: MediaStore, target: Target, _: Translator
) -> tuple[str, InlineKeyboardMarkup, Presets]:
    if isinstance(target, Recording):
        chosen = presets.effective(target.media)
        metadata = await cards.fetch_metadata(store, target)
        heading = recording_heading(target, recording_title(target, metadata))
        markup = editor_keyboard(_.lang, RECORDING, target.id, chosen)
        return editor_text(_.lang, heading, chosen), markup, chosen
    template = template_service.parsed(target)
    chosen = presets.of_template(template) if template else Presets()
    heading = _("presets.template_heading", name=html.escape(target.name))
    when = template.publish_at if template else None
    owner = await session.get(Workspace, target.workspace_id)
    if when and owner is not None and (owner.settings or {}).get("timezone"):
        # "+1d 09:00 MSK": a template's time as written, in the zone it will be read in.
        when = f"{when} {presets_text.zone_name(datetime.now(_zone(owner)))}"
    markup = editor_keyboard(_.lang, TEMPLATE, target.id, chosen, when=when)
    return editor_text(_.lang, heading, chosen, when), markup, chosen


async def opened(
    query: CallbackQuery,
    callback_data: PresetCb,
    session: AsyncSession,
    workspace: Workspace,
    store: MediaStore,
    _: Translator,
) -> None:
    target = await _target(session, workspace, callback_data.k, callback_data.id)
    if target is None or not isinstance(query.message, Message):
        await query.answer(_("presets.gone"), show_alert=True)
        return
    await query.answer()
    text, markup, _chosen = await _editor(session, store, target, _)
    await query.message.answer(text, reply_markup=markup)


async def done(query: CallbackQuery, _: Translator) -> None:
    await query.answer(_("presets.saved"))
    if isinstance(query.message, Message):
        try:
            await query.message.edit_reply_markup(reply_markup=None)
        except TelegramBadRequest as exc:
            log.debug("presets editor not closed: %s", exc.message)


async def cycled(
    query: CallbackQuery,
    callback_data: PresetCb,
    session: AsyncSession,
    workspace: Workspace,
    store: MediaStore,
    bot: Bot,
    _: Translator,
) -> None:
    target = await _target(session, workspace, callback_data.k, callback_data.id)
    if target is None:
        await query.answer(_("presets.gone"), show_alert=True)
        return
    key = presets.CODES[callback_data.f]
    _text, _markup, chosen = await _editor(session, store, target, _)
    error = await _save(
        session, workspace, query.from_user.id, target, key, presets.next_value(chosen, key)
    )
    if error is not None:
        await query.answer(error, show_alert=True)
        return
    await query.answer()
    if isinstance(query.message, Message):
        await _redraw(
            bot, session, store, target, query.message.chat.id, query.message.message_id, _
        )


async def typed(
    query: CallbackQuery,
    callback_data: PresetCb,
    session: AsyncSession,
    workspace: Workspace,
    arq: ArqRedis,
    _: Translator,
) -> None:
    target = await _target(session, workspace, callback_data.k, callback_data.id)
    if target is None or not isinstance(query.message, Message):
        await query.answer(_("presets.gone"), show_alert=True)
        return
    await query.answer()
    code = callback_data.f
    zone_name = presets_text.zone_name(datetime.now(_zone(workspace))) or "UTC"
    data = {"k": callback_data.k, "id": callback_data.id, "editor": query.message.message_id}
    user = query.from_user
    text = _(ASK_KEYS[code], zone=zone_name)
    await open_prompt(
        query.message, user.id, user.full_name, text, Ask(ASKS[code], data=data), arq, _
    )


async def answered(
    message: Message,
    ask: Ask,
    session: AsyncSession,
    workspace: Workspace,
    store: MediaStore,
    arq: ArqRedis,
    bot: Bot,
    _: Translator,
) -> None:
    assert message.from_user is not None
    target = await _target(session, workspace, str(ask.data.get("k")), int(ask.data.get("id", 0)))
    asks = Conversations(arq)
    if target is None:
        await asks.close(message.chat.id, message.from_user.id, ask.prompt)
        await message.reply(_("presets.gone"))
        return
    code = next(c for c, kind in ASKS.items() if kind == ask.kind)
    key = presets.CODES[code]
    text = (message.text or "").strip()
    try:
        value = _typed_value(code, text, target, workspace)
    except PresetError as exc:
        # The prompt stays open: the next answer is taken for it.
        await message.reply(_(f"presets.error_{exc.code}"))
        return
    error = await _save(session, workspace, message.from_user.id, target, key, value)
    if error is not None:
        await message.reply(error)
        return
    await asks.close(message.chat.id, message.from_user.id, ask.prompt)
    await message.reply(_("presets.saved"))
    editor = int(ask.data.get("editor") or 0)
    if editor:
        await _redraw(bot, session, store, target, message.chat.id, editor, _)


def _typed_value(code: str, text: str, target: Target, workspace: Workspace) -> Any:
    if code != "at":
        return presets.check_id(text)
    if text in ("", "-"):
        return None
    # Checked against now either way: a template's fixed date that has passed is no use.
    when = presets.parse_when(text, datetime.now(UTC), _zone(workspace))
    return when if isinstance(target, Recording) else " ".join(text.split())


async def _save(
    session: AsyncSession,
    workspace: Workspace,
    user_id: int,
    target: Target,
    key: str,
    value: Any,
) -> str | None:
    """Keep the change; what is wrong with it, when the template will not take it."""
    if isinstance(target, Recording):
        if key == "publish_at":
            # The card and the outcome line show the time in the zone it was typed in.
            own = dict(target.media.get("presets") or {})
            own["timezone"] = (workspace.settings or {}).get("timezone") or None
            target.media = {**target.media, "presets": own}
        await set_recording_preset(session, target, key, value)
        return None
    body = dict(target.body)
    body[key] = value.isoformat() if isinstance(value, datetime) else value
    if key == "privacy":
        body["publish_at"] = None
    try:
        await template_service.save(
            session, workspace.id, user_id, body, target, "template_changed"
        )
    except ValidationError as exc:
        await session.rollback()
        return errors_text(Translator(workspace.language or "en"), exc)
    return None


async def _redraw(
    bot: Bot,
    session: AsyncSession,
    store: MediaStore,
    target: Target,
    chat_id: int,
    editor_id: int,
    _: Translator,
) -> None:
    """The editor with the new values, and the review card with its new line."""
    text, markup, _chosen = await _editor(session, store, target, _)
    try:
        await bot.edit_message_text(
            text=text, chat_id=chat_id, message_id=editor_id, reply_markup=markup
        )
    except TelegramBadRequest as exc:
        log.debug("presets editor not edited: %s", exc.message)
    if isinstance(target, Recording):
        await cards.refresh_review_card(bot, session, store, target)
