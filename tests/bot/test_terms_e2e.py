"""/terms and a template's key terms, driven through the chat: shown to everyone, changed by
admins only, refused with the reason when a list breaks a rule, and told when the speech
engine's prompt cannot hold them all. In English and in Russian."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from jobs.terms import MAX_TERM_CHARS, MAX_TERMS
from locales import gettext
from storage.models import AuditEvent, Role, Workspace
from storage.models import Template as TemplateRow
from tests.bot.chat_fixtures import button, rows, seen
from tests.bot.test_roles_e2e import wait_for_role
from tests.conftest import RunningBot
from tests.fakes.telegram import BotMessage, FakeTelegram

LANGS = pytest.mark.parametrize("lang", ["en", "ru"])
TERMS = {
    "en": ["Dijkstra", "Kolmogorov", "Levenshtein"],
    "ru": ["Дейкстра", "Колмогоров", "Левенштейн"],
}


def _say(lang: str, key: str, **params: Any) -> str:
    return re.sub(r"<[^>]*>", "", gettext(lang, key, **params))


async def _ask(
    telegram: FakeTelegram, chat: dict[str, Any], user: dict[str, Any], text: str
) -> BotMessage:
    mark = telegram.mark()
    await telegram.send_text(chat, user, text)
    return await telegram.wait_for_message(chat["id"], after=mark)


async def _workspace_terms(app: RunningBot, chat_id: int) -> list[str]:
    found = await rows(app.settings, Workspace, chat_id=chat_id)
    return list((found[0].settings or {}).get("terms") or [])


@LANGS
async def test_terms_are_shown_replaced_refused_and_cleared_in_a_private_chat(
    app: RunningBot, telegram: FakeTelegram, lang: str
) -> None:
    user = telegram.user(3101 if lang == "en" else 3102, "Ann", language_code=lang)
    chat = telegram.private_chat(user)
    terms = TERMS[lang]

    # The command is in the chat's menu, described in the person's language.
    menu = telegram.my_commands(language_code="" if lang == "en" else lang)
    assert {"command": "terms", "description": gettext(lang, "commands.terms")} in menu

    empty = seen(await _ask(telegram, chat, user, "/terms"))
    assert _say(lang, "terms.none") in empty
    assert _say(lang, "terms.how", max=MAX_TERMS, chars=MAX_TERM_CHARS) in empty

    # Commas, semicolons and new lines separate; a repeat in another letter case counts once.
    typed = f"/terms {terms[0]}, {terms[1]};\n{terms[2]}, {terms[0].upper()}"
    saved = seen(await _ask(telegram, chat, user, typed))
    assert _say(lang, "terms.saved", count=3) in saved
    assert await _workspace_terms(app, chat["id"]) == terms

    shown = seen(await _ask(telegram, chat, user, "/terms"))
    assert _say(lang, "terms.heading", count=3) in shown
    assert ", ".join(terms) in shown

    too_long = "x" * (MAX_TERM_CHARS + 1)
    refusal = seen(await _ask(telegram, chat, user, f"/terms {terms[0]}, {too_long}"))
    assert refusal == _say(lang, "terms.too_long", term=too_long, max=MAX_TERM_CHARS)
    many = ", ".join(f"term{i}" for i in range(MAX_TERMS + 1))
    refusal = seen(await _ask(telegram, chat, user, f"/terms {many}"))
    assert refusal == _say(lang, "terms.too_many", count=MAX_TERMS + 1, max=MAX_TERMS)
    assert await _workspace_terms(app, chat["id"]) == terms

    # More than the speech prompt holds: saved, and the answer says which are left out of it.
    long_terms = [f"{terms[1]} theorem number {i:02d}" for i in range(30)]
    answer = seen(await _ask(telegram, chat, user, "/terms " + "\n".join(long_terms)))
    assert _say(lang, "terms.saved", count=30) in answer
    assert "⚠️" in answer and long_terms[-1] in answer and long_terms[0] not in answer.split("⚠️")[1]
    assert len(await _workspace_terms(app, chat["id"])) == 30

    cleared = seen(await _ask(telegram, chat, user, "/terms -"))
    assert cleared == _say(lang, "terms.cleared")
    assert await _workspace_terms(app, chat["id"]) == []
    audited = await rows(app.settings, AuditEvent, action="settings_changed")
    assert [(e.target, e.details["value"]) for e in audited] == [
        ("terms", 3),
        ("terms", 30),
        ("terms", 0),
    ]


@LANGS
async def test_in_a_group_members_see_the_terms_and_only_admins_change_them(
    app: RunningBot, telegram: FakeTelegram, lang: str
) -> None:
    chat_id = -100931 if lang == "en" else -100932
    group = telegram.group(chat_id, "Algorithms")
    owner = telegram.user(3111 if lang == "en" else 3112, "Olga", language_code=lang)
    student = telegram.user(3121 if lang == "en" else 3122, "Sam", language_code=lang)
    telegram.set_admins(group["id"], [], creator=owner["id"])
    await telegram.add_bot_to_group(group, owner)
    await telegram.wait_for_message(group["id"], after=0)
    await wait_for_role(app.settings, owner["id"], Role.OWNER)
    terms = TERMS[lang]

    saved = seen(await _ask(telegram, group, owner, f"/terms {', '.join(terms)}"))
    assert _say(lang, "terms.saved", count=3) in saved

    refused = seen(await _ask(telegram, group, student, f"/terms {terms[0]}"))
    assert refused == _say(lang, "common.admins_only")
    assert await _workspace_terms(app, group["id"]) == terms

    shown = seen(await _ask(telegram, group, student, "/terms"))
    assert ", ".join(terms) in shown
    assert _say(lang, "terms.members_note") in shown
    assert "/terms -" not in shown


@LANGS
async def test_an_admin_gives_a_template_its_own_terms_from_its_card(
    app: RunningBot, telegram: FakeTelegram, lang: str
) -> None:
    user = telegram.user(3131 if lang == "en" else 3132, "Ann", language_code=lang)
    chat = telegram.private_chat(user)
    template = {"name": "Algorithms", "match": {"keywords_any": ["graphs"]}, "terms": ["BFS"]}
    await telegram.send_document(
        chat, user, yaml.safe_dump(template).encode(), file_name="a.yaml", mime_type="text/yaml"
    )
    card = await telegram.wait_for_message(chat["id"], lambda m: bool(m.buttons), after=0)
    assert _say(lang, "terms.card_line", terms="BFS") in seen(card)

    await telegram.press(
        chat, user, card.message_id, button(card, _say(lang, "terms.template_button"))
    )
    ask = _say(lang, "terms.template_ask", name="Algorithms", max=MAX_TERMS)
    await telegram.wait_for_message(chat["id"], lambda m: ask in seen(m))
    too_long = "y" * (MAX_TERM_CHARS + 1)
    refusal = seen(await _ask(telegram, chat, user, too_long))
    assert refusal == _say(lang, "terms.too_long", term=too_long, max=MAX_TERM_CHARS)
    # The prompt stays open: the next answer is taken.
    answer = seen(await _ask(telegram, chat, user, ", ".join(TERMS[lang])))
    assert answer == _say(lang, "terms.template_saved", name="Algorithms", count=3)
    line = _say(lang, "terms.card_line", terms=", ".join(TERMS[lang]))
    await telegram.wait_for(lambda: line in seen(card))
    stored = await rows(app.settings, TemplateRow)
    assert stored[0].body["terms"] == TERMS[lang]

    mark = telegram.mark()
    await telegram.press(
        chat, user, card.message_id, button(card, _say(lang, "terms.template_button"))
    )
    await telegram.wait_for_message(chat["id"], lambda m: ask in seen(m), after=mark)
    cleared = seen(await _ask(telegram, chat, user, "-"))
    assert cleared == _say(lang, "terms.template_cleared", name="Algorithms")
    await telegram.wait_for(lambda: _say(lang, "terms.card_none") in seen(card))


@LANGS
async def test_a_member_pressing_a_templates_terms_button_is_told_only_admins_change_it(
    app: RunningBot, telegram: FakeTelegram, lang: str
) -> None:
    chat_id = -100941 if lang == "en" else -100942
    group = telegram.group(chat_id, "Algorithms")
    owner = telegram.user(3141 if lang == "en" else 3142, "Olga", language_code=lang)
    student = telegram.user(3151 if lang == "en" else 3152, "Sam", language_code=lang)
    telegram.set_admins(group["id"], [], creator=owner["id"])
    await telegram.add_bot_to_group(group, owner)
    await telegram.wait_for_message(group["id"], after=0)
    await wait_for_role(app.settings, owner["id"], Role.OWNER)
    template = {"name": "Algorithms", "terms": ["BFS"]}
    mark = telegram.mark()
    await telegram.send_document(
        group, owner, yaml.safe_dump(template).encode(), file_name="a.yaml", mime_type="text/yaml"
    )
    card = await telegram.wait_for_message(group["id"], lambda m: bool(m.buttons), after=mark)
    query = await telegram.press(
        group, student, card.message_id, button(card, _say(lang, "terms.template_button"))
    )
    answer = await telegram.wait_for_answer(query)
    assert answer.get("show_alert") is True
    assert "Olga" in answer["text"]
    stored = await rows(app.settings, TemplateRow)
    assert stored[0].body["terms"] == ["BFS"]
