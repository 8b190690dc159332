"""The topic editor when two people edit at once, and when the template cannot take a change."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tests.bot import chat_fixtures
from tests.bot.chat_fixtures import button, reviewable, seen
from tests.conftest import RunningBot
from tests.fakes.telegram import BotMessage, FakeTelegram

lecture_video = chat_fixtures.lecture_video


async def _editor(
    telegram: FakeTelegram, chat: dict[str, Any], user: dict[str, Any], card: BotMessage
) -> BotMessage:
    """The person presses Topics on the review card; the editor the bot posts for them."""
    mark = telegram.mark()
    await telegram.press(chat, user, card.message_id, button(card, "Topics"))
    return await telegram.wait_for_message(
        chat["id"], lambda m: "corrected list" in str(m.buttons), after=mark
    )


async def _pick(
    telegram: FakeTelegram,
    chat: dict[str, Any],
    user: dict[str, Any],
    editor: BotMessage,
    label: str,
) -> None:
    number = label.split(".")[0]
    await telegram.press(chat, user, editor.message_id, button(editor, label))
    await telegram.wait_for(lambda: f"Topic {number}" in seen(editor))


def _titles(folder: Path, name: str) -> list[str]:
    data = json.loads((folder / name).read_text())
    return [c["title"] for c in data["chapters" if name == "metadata.json" else "topics"]]


async def test_a_topic_button_drawn_before_someone_changed_the_list_touches_nothing(
    app: RunningBot, telegram: FakeTelegram, lecture_video: Path
) -> None:
    group = telegram.group(-1001201, "Signals")
    owner = telegram.user(1200, "Olga", language_code="en")
    ann = telegram.user(1201, "Ann", language_code="en")
    bob = telegram.user(1202, "Bob", language_code="en")
    telegram.set_admins(group["id"], [], creator=owner["id"])
    made = await reviewable(app.settings, telegram, group, owner, lecture_video)
    card = await telegram.wait_for_message(
        group["id"], lambda m: "Ready for review" in seen(m), after=0
    )

    # Ann opens the third topic, and asks to rename the fourth.
    ann_editor = await _editor(telegram, group, ann, card)
    await _pick(telegram, group, ann, ann_editor, "3. Aliasing")
    ann_rename_editor = await _editor(telegram, group, ann, card)
    await _pick(telegram, group, ann, ann_rename_editor, "4. Questions")
    mark = telegram.mark()
    await telegram.press(
        group, ann, ann_rename_editor.message_id, button(ann_rename_editor, "Rename")
    )
    prompt = await telegram.wait_for_message(
        group["id"], lambda m: "new name of topic" in seen(m), after=mark
    )

    # Meanwhile Bob deletes the second: Aliasing is second-to-last now, Questions last.
    bob_editor = await _editor(telegram, group, bob, card)
    await _pick(telegram, group, bob, bob_editor, "2. Sampling")
    await telegram.press(group, bob, bob_editor.message_id, button(bob_editor, "Delete"))
    await telegram.wait_for(lambda: "Sampling" not in seen(card))
    assert _titles(made.folder, "metadata.json") == ["Introduction", "Aliasing", "Questions"]

    # Ann's Delete still names place 3, which now holds Questions: refused, list shown again.
    query = await telegram.press(group, ann, ann_editor.message_id, button(ann_editor, "Delete"))
    answer = await telegram.wait_for_answer(query)
    assert answer["show_alert"] is True
    assert "The list has changed since" in answer["text"]
    await telegram.wait_for(lambda: "3. Questions" in str(ann_editor.buttons))
    assert "2. 0:41 Aliasing" in seen(ann_editor)
    assert _titles(made.folder, "metadata.json") == ["Introduction", "Aliasing", "Questions"]
    assert _titles(made.folder, "topics.json") == ["Introduction", "Aliasing", "Questions"]

    # Her answer to the rename prompt names place 4, which is gone: nothing is renamed.
    mark = telegram.mark()
    await telegram.send_text(group, ann, "Questions and answers", reply_to=prompt.message_id)
    stale = await telegram.wait_for_message(
        group["id"], lambda m: "The list has changed since" in seen(m), after=mark
    )
    assert stale.reply_to_message_id is not None
    await telegram.wait_for(lambda: "3. Questions" in str(ann_rename_editor.buttons))
    assert _titles(made.folder, "metadata.json") == ["Introduction", "Aliasing", "Questions"]

    # Picked again from the list as it is now, the topic is renamed.
    await _pick(telegram, group, ann, ann_editor, "3. Questions")
    mark = telegram.mark()
    await telegram.press(group, ann, ann_editor.message_id, button(ann_editor, "Rename"))
    prompt = await telegram.wait_for_message(
        group["id"], lambda m: "new name of topic" in seen(m), after=mark
    )
    await telegram.send_text(group, ann, "Questions and answers", reply_to=prompt.message_id)
    await telegram.wait_for(lambda: "Questions and answers" in seen(card))
    assert _titles(made.folder, "metadata.json") == [
        "Introduction",
        "Aliasing",
        "Questions and answers",
    ]


async def test_a_change_the_template_cannot_render_is_refused_and_the_files_stay_as_they_were(
    app: RunningBot, telegram: FakeTelegram, lecture_video: Path
) -> None:
    user = telegram.user(1211, "Ann", language_code="en")
    chat = telegram.private_chat(user)
    # A template that breaks on a topic called Boom, and on fewer than four topics.
    strict = {
        "name": "Strict",
        "title_template": (
            "{{ title }}{% if 'Boom' in chapters or chapters.count('\\n') < 3 %}"
            "{{ 10 ** (10 ** 10) }}{% endif %}"
        ),
    }
    await telegram.send_document(
        chat, user, yaml.safe_dump(strict).encode(), file_name="s.yaml", mime_type="text/yaml"
    )
    await telegram.wait_for_message(1211, lambda m: "saved from the file" in seen(m), after=0)
    made = await reviewable(
        app.settings, telegram, chat, user, lecture_video, compose={"template": "Strict"}
    )
    card = await telegram.wait_for_message(1211, lambda m: "Ready for review" in seen(m), after=0)
    before = {name: (made.folder / name).read_text() for name in ("topics.json", "metadata.json")}

    editor = await _editor(telegram, chat, user, card)
    await _pick(telegram, chat, user, editor, "4. Questions")
    query = await telegram.press(chat, user, editor.message_id, button(editor, "Delete"))
    answer = await telegram.wait_for_answer(query)
    assert answer["show_alert"] is True
    assert (
        "The description could not be made: The template makes a number too large"
        in (answer["text"])
    )
    for name, text in before.items():
        assert (made.folder / name).read_text() == text, name

    mark = telegram.mark()
    await telegram.press(chat, user, editor.message_id, button(editor, "Rename"))
    await telegram.wait_for_message(1211, lambda m: "new name of topic" in seen(m), after=mark)
    mark = telegram.mark()
    await telegram.send_text(chat, user, "Boom")
    refused = await telegram.wait_for_message(1211, after=mark)
    assert "The description could not be made" in seen(refused)
    for name, text in before.items():
        assert (made.folder / name).read_text() == text, name

    # The prompt is still open: another title is taken.
    mark = telegram.mark()
    await telegram.send_text(chat, user, "Questions and answers")
    saved = await telegram.wait_for_message(1211, after=mark)
    assert "Topics saved (4)" in seen(saved)
    assert _titles(made.folder, "topics.json")[-1] == "Questions and answers"
    assert _titles(made.folder, "metadata.json")[-1] == "Questions and answers"
