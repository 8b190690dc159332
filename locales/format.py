"""Numbers as people read them, in either language."""

from __future__ import annotations

from locales import gettext


def duration(seconds: float) -> str:
    """1:32:10 for long recordings, 4:05 for short ones."""
    total = max(round(seconds), 0)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def size(lang: str, num_bytes: int) -> str:
    mb = num_bytes / 1_000_000
    if mb >= 1000:
        return gettext(lang, "unit.gb", value=_number(lang, mb / 1000, 1))
    if mb >= 1:
        return gettext(lang, "unit.mb", value=_number(lang, mb, 0 if mb >= 10 else 1))
    return gettext(lang, "unit.kb", value=_number(lang, max(num_bytes / 1000, 0.1), 0))


def _number(lang: str, value: float, digits: int) -> str:
    text = f"{value:.{digits}f}"
    return text.replace(".", ",") if lang == "ru" else text


def language_name(lang: str, code: str) -> str:
    """A language's name in `lang` ("русский", "English"), from CLDR through Babel; the code
    itself for one CLDR does not name."""
    from babel import Locale, UnknownLocaleError

    try:
        name = Locale(lang).languages.get(code.split("-")[0].lower())
    except (UnknownLocaleError, ValueError):
        name = None
    return name or code
