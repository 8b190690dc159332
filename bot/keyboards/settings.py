"""Keyboards of /settings: the menu and one section of it."""

from __future__ import annotations

from collections.abc import Callable

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import settings as cb
from bot.callbacks.settings import SetCb
from bot.keyboards.language import LANGUAGE_NAMES
from locales import Translator

# Languages lectures may be spoken in, by their own names.
LECTURE_LANGUAGES = {
    # Detected from the speech, stretch by stretch; the label is the reader's language's.
    "auto": "",
    "en": "English",
    "ru": "Русский",
    "de": "Deutsch",
    "fr": "Français",
    "es": "Español",
    "uk": "Українська",
}
SECTIONS = (cb.LANGUAGE, cb.PLATFORM, cb.TRIM, cb.STT)


def lecture_label(_: Translator, code: str, known: Callable[[str], bool] | None = None) -> str:
    """A lecture language as a button or the menu names it; ⚠️ when the speech engine of
    this installation does not understand it."""
    label = _("prefs.lang_auto") if code == "auto" else LECTURE_LANGUAGES.get(code, code)
    if known is not None and not known(code):
        label = f"⚠️ {label}"
    return label


def menu(_: Translator, auto_publish: bool) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for section in SECTIONS:
        builder.button(
            text=_(f"prefs.button_{section}"), callback_data=SetCb(action=cb.SECTION, value=section)
        )
    state = _("prefs.on") if auto_publish else _("prefs.off")
    builder.button(text=_("prefs.button_auto", state=state), callback_data=SetCb(action=cb.AUTO))
    builder.adjust(2, 2, 1)
    return builder.as_markup()


def section(
    _: Translator,
    name: str,
    settings: dict[str, object],
    language: str,
    platforms: tuple[str, ...],
    known: Callable[[str], bool] | None = None,
) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    options: list[tuple[str, str, bool]] = []
    if name == cb.LANGUAGE:
        options = [(code, label, code == language) for code, label in LANGUAGE_NAMES.items()]
    elif name == cb.PLATFORM:
        chosen = settings.get("platforms") or []
        options = [
            (p, _(f"review.platform_{p}"), p in chosen)  # type: ignore[operator]
            for p in platforms
        ]
    elif name == cb.TRIM:
        pauses = bool(settings.get("remove_pauses"))
        options = [
            ("edges", _("prefs.trim_edges"), not pauses),
            ("pauses", _("prefs.trim_pauses"), pauses),
        ]
    elif name == cb.STT:
        current = settings.get("transcribe_language")
        options = [
            (code, lecture_label(_, code, known), code == current) for code in LECTURE_LANGUAGES
        ]
    for value, label, chosen_now in options:
        mark = "✅ " if chosen_now else ""
        builder.button(text=f"{mark}{label}", callback_data=SetCb(action=name, value=value))
    builder.button(text=_("prefs.button_back"), callback_data=SetCb(action=cb.MENU))
    builder.adjust(*([2] * (len(options) // 2)), *([1] * (len(options) % 2)), 1)
    return builder.as_markup()
