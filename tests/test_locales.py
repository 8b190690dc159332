"""Every message exists in both languages, and every key the code asks for exists."""

from __future__ import annotations

import re
import string
from pathlib import Path

import locales

ROOT = Path(__file__).resolve().parents[1]
KEY_CALL = re.compile(r"""(?:\b_|gettext\([^,]+,)\(?\s*["']([a-z_]+\.[a-z_.]+)["']""")


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_both_languages_have_the_same_keys_and_placeholders() -> None:
    en, ru = locales.catalogue("en"), locales.catalogue("ru")
    assert set(en) == set(ru)
    for key in en:
        assert _placeholders(en[key]) == _placeholders(ru[key]), key


def test_every_key_used_in_the_code_exists() -> None:
    used: set[str] = set()
    for folder in ("bot", "jobs", "leap"):
        for path in (ROOT / folder).rglob("*.py"):
            used.update(KEY_CALL.findall(path.read_text()))
    assert used, "no message keys found: the pattern is stale"
    missing = sorted(k for k in used if k not in locales.catalogue("en"))
    assert not missing


def test_language_choice_from_telegram_codes() -> None:
    assert locales.choose_language("ru") == "ru"
    assert locales.choose_language("en-US") == "en"
    assert locales.choose_language("uk") == "ru"
    assert locales.choose_language("de") == "en"
    assert locales.choose_language(None) == "en"
