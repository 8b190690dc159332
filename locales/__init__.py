"""The message catalogue: a folder of TOML files per language, looked up by key.

The bot and the workers both speak through `gettext`, so a progress message written by a
worker is in the same language and wording as the chat around it.

A message that shows a number of things never spells a plural by hand ("(s)", "тем(ы)"): it
names the number in a `{count, plural, one {...} few {...} many {...} other {...}}` block and
CLDR's rules (through Babel, see `locales.plural`) pick the form, so Russian reads "1 слово,
2 слова, 5 слов, 21 слово" and English "1 topic, 2 topics".
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from typing import Any

from locales.plural import render

LANGUAGES = ("en", "ru")
DEFAULT_LANGUAGE = "en"
_DIR = Path(__file__).parent


@cache
def catalogue(lang: str) -> dict[str, str]:
    """Every message of one language; each concern keeps its messages in a file of its own."""
    messages: dict[str, str] = {}
    for path in sorted((_DIR / lang).glob("*.toml")):
        with path.open("rb") as fh:
            part = _flatten(tomllib.load(fh))
        clash = set(part) & set(messages)
        if clash:
            raise ValueError(f"{path}: keys defined twice: {sorted(clash)}")
        messages.update(part)
    return messages


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = str(value)
    return flat


def choose_language(code: str | None) -> str:
    """Map a Telegram language_code ('ru', 'en-US', 'uk', None) to one we speak."""
    if not code:
        return DEFAULT_LANGUAGE
    base = code.split("-")[0].lower()
    if base in LANGUAGES:
        return base
    # Speakers of neighbouring languages more often read Russian than English.
    if base in {"uk", "be", "kk", "ky", "uz", "tg", "hy", "az"}:
        return "ru"
    return DEFAULT_LANGUAGE


def gettext(lang: str, key: str, /, **params: Any) -> str:
    messages = catalogue(lang if lang in LANGUAGES else DEFAULT_LANGUAGE)
    text = messages.get(key)
    if text is None:
        text = catalogue(DEFAULT_LANGUAGE).get(key, key)
    return render(lang if lang in LANGUAGES else DEFAULT_LANGUAGE, text, params) if params else text


class Translator:
    """`_ = Translator("ru"); _("start.private", name=...)` — what handlers receive."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE

    def __call__(self, key: str, /, **params: Any) -> str:
        return gettext(self.lang, key, **params)
