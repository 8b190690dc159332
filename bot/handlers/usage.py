"""/usage: what the workspace uses against its limits, and the words for a quota refusal."""

from __future__ import annotations

import html

from aiogram import Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks.usage import UsageCb
from bot.keyboards import usage as keyboards
from leap.settings import Settings
from locales import Translator
from locales.format import size
from storage import quotas
from storage.files import MediaStore
from storage.models import Workspace

BAR_WIDTH = 10
# Longest a check-and-create may hold a workspace's turn (a Telegram send included).


def bar(used: float, limit: float) -> str:
    """▰▰▰▱▱▱▱▱▱▱ 30%: how full a limit is, at a glance."""
    share = min(max(used / limit, 0.0), 1.0) if limit else 0.0
    filled = round(share * BAR_WIDTH)
    if used > 0 and not filled:
        filled = 1  # something used must not look like nothing
    return f"{'▰' * filled}{'▱' * (BAR_WIDTH - filled)} {round(used / limit * 100)}%"


def minutes(lang: str, value: float) -> str:
    """Whole minutes from ten on; one decimal below, so a short lecture does not show as 0."""
    if value == int(value) or value >= 10:
        text = f"{value:.0f}"
    else:
        text = f"{value:.1f}"
    return text.replace(".", ",") if lang == "ru" else text


def usage_text(
    _: Translator, workspace: Workspace, used: quotas.Usage, limit: quotas.Limits
) -> str:
    lang = _.lang
    lines = [_("usage.title", title=html.escape(workspace.title or str(workspace.chat_id))), ""]
    if limit.storage_bytes:
        lines.append(
            _(
                "usage.storage",
                used=size(lang, used.storage_bytes),
                limit=size(lang, limit.storage_bytes),
            )
        )
        lines.append(bar(used.storage_bytes, limit.storage_bytes))
    else:
        lines.append(_("usage.storage_free", used=size(lang, used.storage_bytes)))
    if limit.minutes:
        lines.append(
            _(
                "usage.minutes",
                used=minutes(lang, used.minutes),
                limit=minutes(lang, limit.minutes),
            )
        )
        lines.append(bar(used.minutes, limit.minutes))
    else:
        lines.append(_("usage.minutes_free", used=minutes(lang, used.minutes)))
    if limit.concurrent:
        lines.append(_("usage.concurrent", used=used.active, limit=limit.concurrent))
        lines.append(bar(used.active, limit.concurrent))
    else:
        lines.append(_("usage.concurrent_free", used=used.active))
    lines += ["", _("usage.note")]
    return "\n".join(lines)


def refusal_text(_: Translator, refusal: quotas.Refusal) -> str:
    """Why a recording was not taken, with the numbers."""
    lang = _.lang
    if refusal.kind == "storage":
        used, limit = size(lang, int(refusal.used)), size(lang, int(refusal.limit))
        if refusal.asked is None:
            return _("quota.storage_unknown", used=used, limit=limit)
        return _("quota.storage", used=used, limit=limit, asked=size(lang, int(refusal.asked)))
    if refusal.kind == "minutes":
        used, limit = minutes(lang, refusal.used), minutes(lang, refusal.limit)
        if refusal.asked is None:
            return _("quota.minutes_unknown", used=used, limit=limit)
        return _("quota.minutes", used=used, limit=limit, asked=minutes(lang, refusal.asked))
    return _("quota.concurrent", used=int(refusal.used), limit=int(refusal.limit))


async def _current(
    session: AsyncSession,
    store: MediaStore,
    workspace: Workspace,
    settings: Settings,
    _: Translator,
) -> str:
    used = await quotas.usage(session, store, workspace.id)
    return usage_text(_, workspace, used, quotas.limits(workspace, settings))


async def usage_command(
    message: Message,
    session: AsyncSession,
    store: MediaStore,
    workspace: Workspace,
    settings: Settings,
    _: Translator,
) -> None:
    text = await _current(session, store, workspace, settings, _)
    await message.answer(text, reply_markup=keyboards.usage(_))


async def usage_refresh(
    query: CallbackQuery,
    session: AsyncSession,
    store: MediaStore,
    workspace: Workspace,
    settings: Settings,
    _: Translator,
) -> None:
    text = await _current(session, store, workspace, settings, _)
    await query.answer(_("usage.refreshed"))
    if isinstance(query.message, Message):
        await edit_quietly(query.message, text, keyboards.usage(_))


async def edit_quietly(message: Message, text: str, markup: InlineKeyboardMarkup | None) -> None:
    """Edit a message; a press that changed nothing visible is not an error."""
    try:
        await message.edit_text(text, reply_markup=markup)
    except TelegramBadRequest as exc:
        if "not modified" not in exc.message:
            raise


def make_router() -> Router:
    router = Router(name=__name__)
    router.message.register(usage_command, Command("usage"))
    router.callback_query.register(usage_refresh, UsageCb.filter())
    return router
