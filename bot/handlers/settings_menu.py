"""/settings: how this workspace's recordings are processed and published.

Everyone may look; only admins change anything. New recordings take the settings with them
when they arrive (see intake), so a change never alters work already under way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import settings as cb
from bot.callbacks.settings import SetCb
from bot.filters import IsAdmin, refuse_non_admin
from bot.handlers import timezone
from bot.handlers.start import LANGUAGE_CHANGED
from bot.handlers.usage import edit_quietly
from bot.keyboards import settings as keyboards
from bot.keyboards.language import LANGUAGE_NAMES
from jobs.cards import platform_name
from jobs.publish import PLATFORMS
from jobs.transcribe import language_supported
from leap.settings import Settings
from locales import LANGUAGES, Translator
from storage import repo
from storage.models import Member, Workspace, WorkspaceKind


def menu_text(_: Translator, workspace: Workspace, settings: Settings) -> str:
    chosen = workspace.settings or {}
    platforms = [p for p in PLATFORMS if p in (chosen.get("platforms") or [])]
    lecture = chosen.get("transcribe_language") or settings.transcribe_language
    return _(
        "prefs.menu",
        language=LANGUAGE_NAMES.get(_.lang, _.lang),
        platforms=", ".join(platform_name(_.lang, p) for p in platforms)
        or _("prefs.platforms_connected"),
        trim=_("prefs.trim_pauses") if chosen.get("remove_pauses") else _("prefs.trim_edges"),
        lecture=keyboards.lecture_label(_, str(lecture), _known(settings)),
        auto=_("prefs.on") if chosen.get("auto_publish") else _("prefs.off"),
    ) + ("\n" + timezone.menu_line(_, workspace))


async def settings_command(
    message: Message, workspace: Workspace, settings: Settings, _: Translator
) -> None:
    await message.answer(
        menu_text(_, workspace, settings),
        reply_markup=_menu_markup(_, workspace),
    )


async def menu_pressed(
    query: CallbackQuery, workspace: Workspace, settings: Settings, _: Translator
) -> None:
    await query.answer()
    await _show_menu(query, workspace, settings, _)


async def section_pressed(
    query: CallbackQuery,
    callback_data: SetCb,
    workspace: Workspace,
    settings: Settings,
    _: Translator,
) -> None:
    if callback_data.value not in keyboards.SECTIONS:
        await query.answer()
        return
    await query.answer()
    await _show_section(query, callback_data.value, workspace, settings, _)


async def changed(
    query: CallbackQuery,
    callback_data: SetCb,
    session: AsyncSession,
    workspace: Workspace,
    member: Member,
    settings: Settings,
    _: Translator,
) -> None:
    action, value = callback_data.action, callback_data.value
    if action == cb.LANGUAGE and value not in LANGUAGES:
        await query.answer()
        return
    if action == cb.PLATFORM and value not in PLATFORMS:
        await query.answer()
        return
    if action == cb.STT and value not in keyboards.LECTURE_LANGUAGES:
        await query.answer()
        return
    audited: tuple[str, str, dict[str, Any]] | None
    if action == cb.LANGUAGE:
        # Recorded as /language records it, so /audit tells both the same way, and a
        # language pressed again changes nothing and logs nothing.
        audited = None
        if value != _.lang:
            audited = (LANGUAGE_CHANGED, "language", {"value": value, "was": _.lang})
        workspace.language = value
        if workspace.kind is WorkspaceKind.PERSONAL:
            member.language = value
        _ = Translator(value)
    else:
        # Changed on the settings as saved last, not as this update loaded them: an owner
        # may be granting or revoking admins in /roles at this very moment.
        chosen = await repo.update_workspace_settings(
            session, workspace, lambda current: _apply(current, action, value)
        )
        shown = chosen.get("auto_publish") if action == cb.AUTO else value
        audited = ("settings_changed", action, {"value": shown})
    if audited is not None:
        what, target, details = audited
        await repo.audit(session, workspace.id, query.from_user.id, what, target, **details)
    await session.commit()
    await query.answer(_("prefs.saved"))
    if action == cb.AUTO:
        await _show_menu(query, workspace, settings, _)
    else:
        await _show_section(query, action, workspace, settings, _)


def _apply(current: dict[str, Any], action: str, value: str) -> None:
    """One press of /settings on the workspace's settings (checked values only)."""
    if action == cb.PLATFORM:
        platforms = list(current.get("platforms") or [])
        platforms = (
            [p for p in platforms if p != value] if value in platforms else [*platforms, value]
        )
        current["platforms"] = [p for p in PLATFORMS if p in platforms]
    elif action == cb.TRIM:
        current["remove_pauses"] = value == "pauses"
    elif action == cb.STT:
        current["transcribe_language"] = value
    elif action == cb.AUTO:
        current["auto_publish"] = not current.get("auto_publish")


async def _show_menu(
    query: CallbackQuery, workspace: Workspace, settings: Settings, _: Translator
) -> None:
    if isinstance(query.message, Message):
        await edit_quietly(
            query.message,
            menu_text(_, workspace, settings),
            _menu_markup(_, workspace),
        )


async def _show_section(
    query: CallbackQuery, name: str, workspace: Workspace, settings: Settings, _: Translator
) -> None:
    if not isinstance(query.message, Message):
        return
    current = dict(workspace.settings or {})
    current.setdefault("transcribe_language", settings.transcribe_language)
    text = _(f"prefs.section_{name}")
    known = _known(settings)
    if name == cb.STT:
        text += "\n\n" + _("prefs.stt_auto_hint")
        if not known("ru"):
            # The one case there is: an English-only model configured by the operator.
            text += "\n" + _("prefs.stt_english_only")
        elif not known(str(current["transcribe_language"])):
            text += "\n" + _("prefs.stt_unknown")
    # A choice pressed again (the language already spoken) leaves the section as it was.
    await edit_quietly(
        query.message, text, keyboards.section(_, name, current, _.lang, PLATFORMS, known)
    )


def _menu_markup(_: Translator, workspace: Workspace) -> InlineKeyboardMarkup:
    auto = bool((workspace.settings or {}).get("auto_publish"))
    return timezone.with_menu_button(_, keyboards.menu(_, auto))


def _known(settings: Settings) -> Callable[[str], bool]:
    """Whether the configured speech engine understands a lecture language."""
    return lambda code: language_supported(settings, code)


def make_router() -> Router:
    router = Router(name=__name__)
    router.message.register(settings_command, Command("settings"))

    admin = Router(name=f"{__name__}.admin")
    admin.callback_query.filter(IsAdmin())
    admin.callback_query.register(changed, SetCb.filter(F.action.in_(cb.CHANGES)))

    members = Router(name=f"{__name__}.members")
    members.callback_query.register(menu_pressed, SetCb.filter(F.action == cb.MENU))
    members.callback_query.register(section_pressed, SetCb.filter(F.action == cb.SECTION))

    refused = Router(name=f"{__name__}.refused")
    refused.callback_query.register(refuse_non_admin, SetCb.filter(F.action.in_(cb.CHANGES)))

    router.include_routers(admin, members, refused, timezone.make_router())
    return router
