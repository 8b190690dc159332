"""/templates: a guided dialogue, files in YAML or JSON, previews, and admins only for changes."""

from __future__ import annotations

from pathlib import Path

import yaml

from storage.models import AuditEvent
from storage.models import Template as TemplateRow
from tests.bot import chat_fixtures
from tests.bot.chat_fixtures import button, reviewable, rows, seen
from tests.conftest import RunningBot
from tests.fakes.telegram import FakeTelegram

lecture_video = chat_fixtures.lecture_video


async def test_an_admin_makes_a_template_in_a_dialogue_and_previews_it(
    app: RunningBot, telegram: FakeTelegram, lecture_video: Path
) -> None:
    user = telegram.user(1001, "Ann", language_code="en")
    chat = telegram.private_chat(user)
    await reviewable(
        app.settings, telegram, chat, user, lecture_video, compose={"template": "Physics"}
    )
    await telegram.wait_for_message(1001, lambda m: "Ready for review" in seen(m), after=0)

    await telegram.send_text(chat, user, "/templates")
    listing = await telegram.wait_for_message(1001, lambda m: "Templates" in seen(m))
    assert "No templates yet" in seen(listing)
    await telegram.press(chat, user, listing.message_id, button(listing, "New template"))
    await telegram.wait_for_message(1001, lambda m: "name for the new template" in seen(m))
    await telegram.send_text(chat, user, "Physics")
    await telegram.wait_for_message(1001, lambda m: "Which recordings" in seen(m))
    await telegram.send_text(chat, user, "signals, physics")
    await telegram.wait_for_message(1001, lambda m: "title template" in seen(m))
    # A title that cannot compile is found when the template is saved: that step is asked again.
    await telegram.send_text(chat, user, "{{ title")
    await telegram.wait_for_message(1001, lambda m: "description template" in seen(m))
    mark = telegram.mark()
    await telegram.send_text(chat, user, "-")
    refusal = await telegram.wait_for_message(1001, lambda m: "not saved" in seen(m), after=mark)
    assert "title_template" in seen(refusal)
    await telegram.wait_for_message(1001, lambda m: "title template" in seen(m), after=mark)
    await telegram.send_text(chat, user, "{{ title }} — a lecture")
    mark = telegram.mark()
    await telegram.wait_for_message(1001, lambda m: "description template" in seen(m), after=mark)
    await telegram.send_text(chat, user, "-")
    card = await telegram.wait_for_message(1001, lambda m: "Template «Physics» created" in seen(m))
    text = seen(card)
    assert "recordings mentioning signals, physics" in text
    assert "{{ title }} — a lecture" in text
    assert "Last used for: signals-lecture.mp4 (#1)" in text

    template = (await rows(app.settings, TemplateRow))[0]
    assert template.body["match"]["keywords_any"] == ["signals", "physics"]
    assert template.body["title_template"] == "{{ title }} — a lecture"
    created = await rows(app.settings, AuditEvent, action="template_created")
    assert [e.user_id for e in created] == [user["id"]]

    await telegram.press(chat, user, card.message_id, button(card, "Preview"))
    preview = await telegram.wait_for_message(1001, lambda m: "On «signals-lecture.mp4»" in seen(m))
    assert "signals-lecture — a lecture" in seen(preview)
    assert "0:20 Sampling" in seen(preview)

    # A title template that cannot compile is refused with the reason; the next one is kept.
    await telegram.press(chat, user, card.message_id, button(card, "Title"))
    await telegram.wait_for_message(1001, lambda m: "title template" in seen(m))
    await telegram.send_text(chat, user, "{{ title")
    refusal = await telegram.wait_for_message(1001, lambda m: "not saved" in seen(m))
    assert "title_template" in seen(refusal)
    await telegram.send_text(chat, user, "{{ title | upper }}")
    await telegram.wait_for_message(1001, lambda m: seen(m) == "✅ Saved.")
    await telegram.wait_for(lambda: "{{ title | upper }}" in seen(card))

    await telegram.press(chat, user, card.message_id, button(card, "Auto-publish: off"))
    await telegram.wait_for(lambda: "Publishes by itself: on" in seen(card))
    template = (await rows(app.settings, TemplateRow))[0]
    assert template.body["auto_publish"] is True
    assert template.body["title_template"] == "{{ title | upper }}"
    changes = await rows(app.settings, AuditEvent, action="template_changed")
    assert len(changes) == 2


async def test_template_files_are_validated_and_only_admins_change_templates(
    app: RunningBot, telegram: FakeTelegram
) -> None:
    group = telegram.group(-1001011, "Physics dept")
    admin = telegram.user(1011, "Adam", language_code="en")
    student = telegram.user(1012, "Sam", language_code="en")
    telegram.set_admins(group["id"], [admin["id"]])
    good = {
        "name": "Seminars",
        "priority": 5,
        "match": {"keywords_any": ["seminar"]},
        "title_template": "Seminar: {{ title }}",
        "platforms": ["export"],
    }

    await telegram.send_document(
        group, student, yaml.safe_dump(good).encode(), file_name="t.yaml", mime_type="text/yaml"
    )
    refused = await telegram.wait_for_message(group["id"], after=0)
    assert "Only admins" in seen(refused)

    await telegram.send_document(
        group, admin, b"name: [unclosed", file_name="broken.yaml", mime_type="text/yaml"
    )
    broken = await telegram.wait_for_message(group["id"], lambda m: "not saved" in seen(m))
    assert "line 1" in seen(broken)

    wrong = {**good, "privacy": "secret", "match": {"regexes": ["(a+)+$"]}}
    await telegram.send_document(
        group, admin, yaml.safe_dump(wrong).encode(), file_name="w.yml", mime_type="text/yaml"
    )
    invalid = await telegram.wait_for_message(
        group["id"], lambda m: "not saved" in seen(m) and "privacy" in seen(m)
    )
    assert "match.regexes" in seen(invalid)
    assert await rows(app.settings, TemplateRow) == []

    await telegram.send_document(
        group, admin, yaml.safe_dump(good).encode(), file_name="s.yaml", mime_type="text/yaml"
    )
    card = await telegram.wait_for_message(group["id"], lambda m: "saved from the file" in seen(m))
    assert "Seminar: {{ title }}" in seen(card)
    assert "Publishes to: File" in seen(card)
    saved = await rows(app.settings, TemplateRow)
    assert [(t.name, t.priority) for t in saved] == [("Seminars", 5)]
    uploads = await rows(app.settings, AuditEvent, action="template_uploaded")
    assert [e.user_id for e in uploads] == [admin["id"]]

    query = await telegram.press(group, student, card.message_id, button(card, "Auto-publish"))
    answer = await telegram.wait_for_answer(query)
    assert answer["show_alert"] is True and "Only admins" in answer["text"]
    assert (await rows(app.settings, TemplateRow))[0].body["auto_publish"] is False
    query = await telegram.press(group, student, card.message_id, button(card, "Chapters"))
    answer = await telegram.wait_for_answer(query)
    assert answer["show_alert"] is True and "Only admins" in answer["text"]
    assert (await rows(app.settings, TemplateRow))[0].body.get("granularity", "normal") == "normal"

    # Anyone may take the template away as a file; it reads back as the same template.
    await telegram.press(group, student, card.message_id, button(card, "As a file"))
    document = await telegram.wait_for_message(group["id"], lambda m: m.document is not None)
    assert document.document.file_name == "Seminars.yaml"
    body = yaml.safe_load(document.document.data)
    assert body["name"] == "Seminars" and body["title_template"] == "Seminar: {{ title }}"
