"""Every message exists in both languages, every key the code asks for exists, and numbers of
things take the plural form CLDR gives for the number (through Babel), never a hand-made one."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

import locales
from locales.plural import Plural, categories, parse

ROOT = Path(__file__).resolve().parents[1]
KEY_CALL = re.compile(r"""(?:\b_|gettext\([^,]+,)\(?\s*["']([a-z_]+\.[a-z_.]+)["']""")


# Parameters that always count things: where they appear, the words around them must agree.
COUNTED = frozenset({"count", "words", "total", "ahead", "days", "seconds"})
NOT_COUNTS = frozenset({("tpl.rule_keywords", "words")})  # the keywords themselves
# A unit written short agrees with every number ("8 с", "5 мин"), so it needs no plural.
ABBREVIATED = frozenset({("ru", "error.link_timeout", "seconds")})
HAND_MADE = re.compile(r"\w\((?:s|es|ы|и|ов|ей|ев)\)")


def _fields(parts: tuple[str | Plural, ...]) -> list[tuple[str, bool]]:
    """Every field name with whether it sits inside a plural block (selectors count as inside)."""
    found: list[tuple[str, bool]] = []
    for part in parts:
        if isinstance(part, Plural):
            found.append((part.name, True))
            for branch in part.branches.values():
                found += [(name, True) for name, _ in _fields(branch)]
        else:
            found += [(n, False) for _, n, _, _ in string.Formatter().parse(part) if n]
    return found


def _placeholders(text: str) -> set[str]:
    return {name for name, _ in _fields(parse(text))}


def _plural_blocks(parts: tuple[str | Plural, ...]) -> list[Plural]:
    blocks: list[Plural] = []
    for part in parts:
        if isinstance(part, Plural):
            blocks.append(part)
            for branch in part.branches.values():
                blocks += _plural_blocks(branch)
    return blocks


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


@pytest.mark.parametrize("lang", locales.LANGUAGES)
def test_every_plural_message_spells_each_form_the_language_needs(lang: str) -> None:
    needed = categories(lang)
    assert needed == ({"one", "few", "many", "other"} if lang == "ru" else {"one", "other"})
    blocks = 0
    for key, text in locales.catalogue(lang).items():
        for block in _plural_blocks(parse(text)):
            blocks += 1
            spelled = {name for name in block.branches if not name.startswith("=")}
            assert spelled == needed, (lang, key, block.name, sorted(spelled))
    assert blocks >= 20


def test_both_languages_choose_plural_forms_by_the_same_numbers() -> None:
    en, ru = locales.catalogue("en"), locales.catalogue("ru")
    for key in en:
        by_en = {block.name for block in _plural_blocks(parse(en[key]))}
        by_ru = {block.name for block in _plural_blocks(parse(ru[key]))}
        by_ru |= {name for lang, k, name in ABBREVIATED if k == key and lang == "ru"}
        assert by_en == by_ru, key


@pytest.mark.parametrize("lang", locales.LANGUAGES)
def test_counted_numbers_are_never_spelled_by_hand(lang: str) -> None:
    for key, text in locales.catalogue(lang).items():
        assert not HAND_MADE.search(text), (lang, key)
        for name, in_plural in _fields(parse(text)):
            if name in COUNTED and not in_plural and (key, name) not in NOT_COUNTS:
                if (lang, key, name) in ABBREVIATED:
                    continue
                # Only a bare value after a label ("Queued: 3") needs no agreeing word.
                assert re.search(r": \{" + name + r"\}(?:[.,;]|$)", text), (lang, key, name)


RUSSIAN_WORDS = {
    1: "1 слово",
    2: "2 слова",
    5: "5 слов",
    21: "21 слово",
    44: "44 слова",
    111: "111 слов",
}
RUSSIAN_TOPICS = {
    1: "Найдена 1 тема",
    2: "Найдены 2 темы",
    5: "Найдено 5 тем",
    21: "Найдена 21 тема",
    44: "Найдены 44 темы",
    111: "Найдено 111 тем",
}


@pytest.mark.parametrize("n", [1, 2, 5, 21, 44, 111])
def test_russian_counts_agree_with_the_number(n: int) -> None:
    assert locales.gettext("ru", "progress.transcribed", words=n) == (
        f"🎙 Расшифровано: {RUSSIAN_WORDS[n]}"
    )
    assert locales.gettext("ru", "progress.topics_done", count=n) == f"🧭 {RUSSIAN_TOPICS[n]}"
    cues = {1: "фраза", 2: "фразы", 5: "фраз", 21: "фраза", 44: "фразы", 111: "фраз"}[n]
    assert locales.gettext("ru", "progress.subtitles_done", count=n).endswith(f" {n} {cues}")
    members = {1: "участник", 2: "участника", 5: "участников", 21: "участник"}.get(n)
    if members:
        assert locales.gettext("ru", "roles.members", count=n) == f"👤 {n} {members}"
    # After "не больше" Russian takes the genitive: 1 ссылки, 2 ссылок, 21 ссылки.
    links = {1: "ссылки", 2: "ссылок", 5: "ссылок", 21: "ссылки", 44: "ссылок", 111: "ссылок"}[n]
    assert f"не больше {n} {links};" in locales.gettext("ru", "links.too_many", limit=n)


@pytest.mark.parametrize("n", [1, 2, 5, 21, 44, 111])
def test_english_counts_agree_with_the_number(n: int) -> None:
    word = "word" if n == 1 else "words"
    assert locales.gettext("en", "progress.transcribed", words=n) == f"🎙 Transcribed: {n} {word}"
    topic = "topic" if n == 1 else "topics"
    assert locales.gettext("en", "progress.topics_done", count=n) == f"🧭 Found {n} {topic}"


def test_numbers_given_as_text_and_fractions_take_their_form() -> None:
    # Callers pass numbers already formatted for the reader; a fraction takes 'other'.
    assert "старше 1,5 дня" in locales.gettext(
        "ru", "retention.freed", days="1,5", count=2, size="1 МБ"
    )
    assert "старше 30 дней" in locales.gettext(
        "ru", "retention.freed", days="30", count=5, size="1 МБ"
    )
    assert "медиафайлы 5 записей" in locales.gettext(
        "ru", "retention.freed", days="30", count=5, size="1 МБ"
    )
    assert "older than 1 day" in locales.gettext(
        "en", "retention.freed", days="1", count=1, size="1 MB"
    )
    assert "за последний день" in locales.gettext("ru", "zoom.list_title", days=1)
    assert "за последний 21 день" in locales.gettext("ru", "zoom.list_title", days=21)
    assert "за последние 30 дней" in locales.gettext("ru", "zoom.list_title", days=30)


def test_plural_blocks_keep_fields_and_escapes_around_them() -> None:
    from locales.plural import render

    text = "{{ x }} {name}: {n, plural, =0 {nothing} one {# item of {name}} other {# items}}"
    assert render("en", text, {"name": "A", "n": 0}) == "{ x } A: nothing"
    assert render("en", text, {"name": "A", "n": 1}) == "{ x } A: 1 item of A"
    assert render("ru", text, {"name": "A", "n": "7"}) == "{ x } A: 7 items"
    assert render("en", text, {"name": "A", "n": "lots"}) == "{ x } A: lots items"
