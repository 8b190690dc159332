"""/settings → time zone: the zone a workspace's publication times are read and shown in.

Rules it keeps:

- The zone is an IANA name kept in ``Workspace.settings["timezone"]``; without one every time
  is UTC. Publish presets read it (`pipeline.presets.zone`) when a time is typed on the card
  or a template's time is resolved, and the card and the outcome lines show times in it with
  the zone's name.
- Everyone may look at the section; only admins change the zone (the admin router's IsAdmin;
  anyone else pressing a zone is told who can, a typed answer from them is refused).
- A short list of common zones is one press away (Europe/Moscow first for a Russian chat,
  Europe/London first for an English one); any other IANA name is typed in answer to a
  prompt, matched without regard to case. A name zoneinfo does not know is refused with an
  example, and the prompt stays open for the next try.
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiogram import F, Router
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import settings as settings_cb
from bot.callbacks.settings import SetCb
from bot.conversation import Answering, Ask, Conversations, open_prompt
from bot.filters import IsAdmin, refuse_non_admin, refuse_non_admin_message
from bot.handlers.usage import edit_quietly
from locales import Translator
from storage import repo
from storage.models import Workspace

ASK_KIND = "timezone"
SETTING = "timezone"
OPEN, SET, TYPE = "open", "set", "type"
# The common choices; a Russian chat sees Moscow first, an English one London.
COMMON = (
    "Europe/Moscow",
    "Europe/London",
    "Europe/Berlin",
    "Asia/Yekaterinburg",
    "Asia/Novosibirsk",
    "Asia/Almaty",
    "America/New_York",
    "UTC",
)


class TzCb(CallbackData, prefix="tz1"):
    action: str
    value: str = ""


def common_zones(lang: str) -> tuple[str, ...]:
    if lang == "ru":
        return COMMON
    return ("Europe/London", *(name for name in COMMON if name != "Europe/London"))


@cache
def _known_names() -> dict[str, str]:
    """Every IANA name zoneinfo knows, by its lower-case spelling."""
    return {name.lower(): name for name in zoneinfo.available_timezones()}


def find_zone(text: str) -> str | None:
    """The IANA name `text` spells (any case, spaces for underscores), or None."""
    typed = "_".join(text.strip().split())
    if not typed or len(typed) > 64:
        return None
    name = _known_names().get(typed.lower())
    if name is None:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name


def current_zone(workspace: Workspace) -> str:
    chosen = str((workspace.settings or {}).get(SETTING) or "")
    return chosen if chosen and find_zone(chosen) else "UTC"


def zone_label(name: str, now: datetime | None = None) -> str:
    """ "Europe/Moscow (MSK, 15:04)": the name, its abbreviation when it has a word for one,
    and the time there now."""
    local = (now or datetime.now(UTC)).astimezone(ZoneInfo(name))
    short = local.tzname() or ""
    parts = [short] if short.isalpha() and short != name else []
    parts.append(f"{local:%H:%M}")
    return f"{name} ({', '.join(parts)})"


def menu_line(_: Translator, workspace: Workspace) -> str:
    """The /settings menu's line naming the zone."""
    return _("tz.menu_line", zone=zone_label(current_zone(workspace)))


def menu_button(_: Translator) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=_("tz.button"), callback_data=TzCb(action=OPEN).pack())


def with_menu_button(_: Translator, markup: InlineKeyboardMarkup) -> InlineKeyboardMarkup:
    """The /settings menu's keyboard with the time zone above its last row."""
    rows = list(markup.inline_keyboard)
    at = max(len(rows) - 1, 0)
    return InlineKeyboardMarkup(inline_keyboard=[*rows[:at], [menu_button(_)], *rows[at:]])


def section_text(_: Translator, workspace: Workspace) -> str:
    return _("tz.section", zone=zone_label(current_zone(workspace)))


def section_keyboard(_: Translator, workspace: Workspace) -> InlineKeyboardMarkup:
    current = current_zone(workspace)
    builder = InlineKeyboardBuilder()
    for name in common_zones(_.lang):
        mark = "✅ " if name == current else ""
        builder.button(text=f"{mark}{name}", callback_data=TzCb(action=SET, value=name))
    if current not in COMMON:
        builder.button(text=f"✅ {current}", callback_data=TzCb(action=SET, value=current))
    builder.button(text=_("tz.button_type"), callback_data=TzCb(action=TYPE))
    builder.button(text=_("prefs.button_back"), callback_data=SetCb(action=settings_cb.MENU))
    count = len(COMMON) + (current not in COMMON)
    builder.adjust(*([2] * (count // 2)), *([1] * (count % 2)), 1, 1)
    return builder.as_markup()


async def opened(query: CallbackQuery, workspace: Workspace, _: Translator) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await edit_quietly(
            query.message, section_text(_, workspace), section_keyboard(_, workspace)
        )


async def chosen(
    query: CallbackQuery,
    callback_data: TzCb,
    session: AsyncSession,
    workspace: Workspace,
    _: Translator,
) -> None:
    name = find_zone(callback_data.value)
    if name is None:
        await query.answer()
        return
    await _save(session, workspace, query.from_user.id, name)
    await query.answer(_("prefs.saved"))
    if isinstance(query.message, Message):
        await edit_quietly(
            query.message, section_text(_, workspace), section_keyboard(_, workspace)
        )


async def typed(query: CallbackQuery, arq: ArqRedis, _: Translator) -> None:
    await query.answer()
    if not isinstance(query.message, Message):
        return
    user = query.from_user
    ask = Ask(ASK_KIND, data={"menu": query.message.message_id})
    await open_prompt(query.message, user.id, user.full_name, _("tz.ask"), ask, arq, _)


async def answered(
    message: Message,
    ask: Ask,
    session: AsyncSession,
    workspace: Workspace,
    arq: ArqRedis,
    _: Translator,
) -> None:
    assert message.from_user is not None
    name = find_zone(message.text or "")
    if name is None:
        # The prompt stays open: the next answer is taken for it.
        typed_text = (message.text or "").strip()[:64]
        await message.reply(_("tz.unknown", name=_escape(typed_text)))
        return
    await _save(session, workspace, message.from_user.id, name)
    await Conversations(arq).close(message.chat.id, message.from_user.id, ask.prompt)
    await message.reply(_("tz.saved", zone=zone_label(name)))


async def _save(session: AsyncSession, workspace: Workspace, user_id: int, name: str) -> None:
    def change(current: dict[str, Any]) -> None:
        current[SETTING] = name

    await repo.update_workspace_settings(session, workspace, change)
    await repo.audit(session, workspace.id, user_id, "settings_changed", SETTING, value=name)
    await session.commit()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def make_router() -> Router:
    router = Router(name=__name__)
    admin = Router(name=f"{__name__}.admin")
    admin.callback_query.filter(IsAdmin())
    admin.message.filter(IsAdmin())
    admin.callback_query.register(chosen, TzCb.filter(F.action == SET))
    admin.callback_query.register(typed, TzCb.filter(F.action == TYPE))
    admin.message.register(answered, Answering(ASK_KIND))

    members = Router(name=f"{__name__}.members")
    members.callback_query.register(opened, TzCb.filter(F.action == OPEN))

    refused = Router(name=f"{__name__}.refused")
    refused.callback_query.register(refuse_non_admin, TzCb.filter(F.action.in_({SET, TYPE})))
    refused.message.register(refuse_non_admin_message, Answering(ASK_KIND))
    router.include_routers(admin, members, refused)
    return router
