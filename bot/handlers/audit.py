"""/audit: who connected, published, discarded, deleted or changed what, and when (admins)."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks.audit import AuditCb
from bot.filters import IsAdmin, refuse_non_admin, refuse_non_admin_message
from bot.handlers.usage import edit_quietly
from bot.keyboards import audit as keyboards
from bot.keyboards.language import LANGUAGE_NAMES
from jobs.cards import platform_name
from jobs.publish.registry import PROVIDERS
from locales import Translator, catalogue
from storage import repo
from storage.models import AuditEvent, Workspace

PAGE_SIZE = 10
# Actions of the operator's command line, which has no Telegram user.
_OPERATOR_ACTIONS = frozenset({"reset", "publish"})
# A connection is logged by its provider ("yandex"); it is named as the platform it serves.
_PROVIDER_PLATFORMS = {provider: name for name, provider in PROVIDERS.items()}


def _when(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def action_name(_: Translator, action: str) -> str:
    key = f"audit.action.{action}"
    # An action added elsewhere before its name is: show it as it is stored.
    return _(key) if key in catalogue(_.lang) else action


def _who(_: Translator, event: AuditEvent, names: dict[int, str]) -> str:
    details = event.details or {}
    if event.user_id is not None:
        name = names.get(event.user_id)
        return html.escape(name) if name else _("audit.unknown_user", id=event.user_id)
    if details.get("by") == "telegram":
        return _("audit.telegram")
    if details.get("by") == "operator" or event.action in _OPERATOR_ACTIONS:
        return _("audit.operator")
    return _("audit.system")


def _what(_: Translator, event: AuditEvent) -> str:
    """What the action was done to, in a few words."""
    details: dict[str, Any] = event.details or {}
    kind, _sep, ident = event.target.partition(":")
    if kind == "recording" or (event.action == "publish_requested" and event.target.isdigit()):
        text = _("audit.recording", id=html.escape(ident or event.target))
        platforms = details.get("platforms") or []
        if platforms:
            text += " → " + ", ".join(platform_name(_.lang, str(p)) for p in platforms)
        # Where it went, or why not: what someone reading the log afterwards looks for.
        outcome = details.get("url") or details.get("error")
        if event.action in ("published", "publish_failed") and outcome:
            text += " · " + html.escape(str(outcome))
        return text
    if kind == "template":
        return _("audit.template", name=html.escape(str(details.get("name") or ident)))
    if kind == "user":
        name = html.escape(str(details.get("name") or ident))
        role = details.get("role")
        if role and event.action == "role_changed":
            return _("audit.role", name=name, role=_(f"roles.name.{role}"))
        return _("audit.member", name=name)
    if event.action.startswith("connection_"):
        provider = event.target
        platform = _PROVIDER_PLATFORMS.get(provider)
        label = platform_name(_.lang, platform) if platform else provider.title()
        account = details.get("account")
        return html.escape(f"{label} ({account})" if account else label)
    if event.action == "language_changed":
        chosen = str(details.get("value") or "")
        return html.escape(LANGUAGE_NAMES.get(chosen, chosen))
    if event.action == "settings_changed":
        return html.escape(f"{event.target}: {details.get('value')}")
    return ""


def line(_: Translator, event: AuditEvent, names: dict[int, str]) -> str:
    what = _what(_, event)
    parts = [_when(event.created_at), _who(_, event, names), action_name(_, event.action)]
    text = " · ".join(parts[:2]) + " · <b>" + parts[2] + "</b>"
    return f"{text} · {what}" if what else text


async def page_view(
    session: AsyncSession, workspace: Workspace, number: int, _: Translator
) -> tuple[str, InlineKeyboardMarkup | None]:
    total = await repo.count_audit_events(session, workspace.id)
    if not total:
        return _("audit.empty"), None
    pages = (total + PAGE_SIZE - 1) // PAGE_SIZE
    number = min(max(number, 0), pages - 1)
    events = await repo.audit_events(
        session, workspace.id, limit=PAGE_SIZE, offset=number * PAGE_SIZE
    )
    ids = sorted({e.user_id for e in events if e.user_id is not None})
    names = await repo.member_names(session, workspace.id, ids)
    lines = [_("audit.title", page=number + 1, pages=pages), ""]
    lines += [line(_, event, names) for event in events]
    return "\n".join(lines), keyboards.pages(_, number, pages)


async def audit_command(
    message: Message, session: AsyncSession, workspace: Workspace, _: Translator
) -> None:
    text, markup = await page_view(session, workspace, 0, _)
    await message.answer(text, reply_markup=markup)


async def audit_page(
    query: CallbackQuery,
    callback_data: AuditCb,
    session: AsyncSession,
    workspace: Workspace,
    _: Translator,
) -> None:
    text, markup = await page_view(session, workspace, callback_data.page, _)
    await query.answer()
    if isinstance(query.message, Message):
        await edit_quietly(query.message, text, markup)


def make_router() -> Router:
    router = Router(name=__name__)

    admin = Router(name=f"{__name__}.admin")
    admin.message.filter(IsAdmin())
    admin.callback_query.filter(IsAdmin())
    admin.message.register(audit_command, Command("audit"))
    admin.callback_query.register(audit_page, AuditCb.filter())

    refused = Router(name=f"{__name__}.refused")
    refused.message.register(refuse_non_admin_message, Command("audit"))
    refused.callback_query.register(refuse_non_admin, AuditCb.filter())

    router.include_routers(admin, refused)
    return router
