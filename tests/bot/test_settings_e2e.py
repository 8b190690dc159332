"""/settings: changes by admins, stored on the workspace and carried by new recordings."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from storage.models import AuditEvent, Recording, Workspace
from storage.repo import HEARD_LANGUAGE
from tests.bot.chat_fixtures import bot_only, button, rows, seen
from tests.fakes.telegram import FakeTelegram


def preferences(workspace: Workspace) -> dict:
    """What people chose; the language the chat was last spoken to in is a fact, kept apart."""
    return {k: v for k, v in (workspace.settings or {}).items() if k != HEARD_LANGUAGE}


async def test_settings_are_stored_and_new_recordings_carry_them(
    settings, telegram: FakeTelegram, small_video: Path
) -> None:
    async with bot_only(settings):
        user = telegram.user(1101, "Ann", language_code="en")
        chat = telegram.private_chat(user)
        await telegram.send_text(chat, user, "/settings")
        menu = await telegram.wait_for_message(1101, after=0)
        assert "Trimming: silent start and end" in seen(menu)

        await telegram.press(chat, user, menu.message_id, button(menu, "Trimming"))
        await telegram.wait_for(lambda: "long pauses" in str(menu.buttons))
        await telegram.press(chat, user, menu.message_id, button(menu, "long pauses"))
        await telegram.wait_for(
            lambda: "✅ silent start and end, and long pauses" in str(menu.buttons)
        )
        await telegram.press(chat, user, menu.message_id, button(menu, "Back"))
        await telegram.wait_for(lambda: "Lecture language" in str(menu.buttons))
        await telegram.press(chat, user, menu.message_id, button(menu, "Lecture language"))
        await telegram.wait_for(lambda: "Deutsch" in str(menu.buttons))
        await telegram.press(chat, user, menu.message_id, button(menu, "Deutsch"))
        await telegram.wait_for(lambda: "✅ Deutsch" in str(menu.buttons))
        await telegram.press(chat, user, menu.message_id, button(menu, "Back"))
        await telegram.wait_for(lambda: "Platforms" in str(menu.buttons))
        await telegram.press(chat, user, menu.message_id, button(menu, "Platforms"))
        await telegram.wait_for(lambda: "YouTube" in str(menu.buttons))
        await telegram.press(chat, user, menu.message_id, button(menu, "YouTube"))
        await telegram.wait_for(lambda: "✅ YouTube" in str(menu.buttons))
        await telegram.press(chat, user, menu.message_id, button(menu, "Back"))
        await telegram.wait_for(lambda: "Auto-publish: off" in str(menu.buttons))
        await telegram.press(chat, user, menu.message_id, button(menu, "Auto-publish"))
        await telegram.wait_for(lambda: "Publish without review: on" in seen(menu))
        text = seen(menu)
        assert "Publish to: YouTube" in text
        assert "long pauses" in text and "Lectures are in: Deutsch" in text

        await telegram.press(chat, user, menu.message_id, button(menu, "Language"))
        await telegram.wait_for(lambda: "Русский" in str(menu.buttons))
        await telegram.press(chat, user, menu.message_id, button(menu, "Русский"))
        await telegram.wait_for(lambda: "Назад" in str(menu.buttons))

        workspace = (await rows(settings, Workspace))[0]
        assert workspace.language == "ru"
        assert preferences(workspace) == {
            "remove_pauses": True,
            "transcribe_language": "de",
            "platforms": ["youtube"],
            "auto_publish": True,
        }
        assert len(await rows(settings, AuditEvent, action="settings_changed")) == 4
        [changed] = await rows(settings, AuditEvent, action="language_changed")
        assert changed.details == {"value": "ru", "was": "en"}

        await telegram.send_video(chat, user, small_video, file_name="talk.mp4")
        queued = await telegram.wait_for_message(1101, lambda m: "talk.mp4" in seen(m))
        assert "В очереди" in seen(queued)
        recording = (await rows(settings, Recording))[0]
        assert recording.options == {"remove_pauses": True, "transcribe_language": "de"}
        assert recording.language == "ru"


async def test_group_members_see_settings_but_only_admins_change_them(
    settings, telegram: FakeTelegram
) -> None:
    async with bot_only(settings):
        group = telegram.group(-1001111, "Physics")
        admin = telegram.user(1111, "Adam", language_code="en")
        student = telegram.user(1112, "Sam", language_code="en")
        telegram.set_admins(group["id"], [admin["id"]])
        await telegram.send_text(group, student, "/settings")
        menu = await telegram.wait_for_message(group["id"], after=0)
        await telegram.press(group, student, menu.message_id, button(menu, "Trimming"))
        await telegram.wait_for(lambda: "long pauses" in str(menu.buttons))
        query = await telegram.press(group, student, menu.message_id, button(menu, "long pauses"))
        answer = await telegram.wait_for_answer(query)
        assert answer["show_alert"] is True and "Only admins" in answer["text"]
        assert preferences((await rows(settings, Workspace))[0]) == {}

        query = await telegram.press(group, admin, menu.message_id, button(menu, "long pauses"))
        assert (await telegram.wait_for_answer(query))["text"] == "Saved."
        assert preferences((await rows(settings, Workspace))[0]) == {"remove_pauses": True}


async def test_pressing_the_language_already_spoken_changes_nothing_and_is_no_error(
    settings, telegram: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with bot_only(settings):
        user = telegram.user(1121, "Ann", language_code="en")
        chat = telegram.private_chat(user)
        await telegram.send_text(chat, user, "/settings")
        menu = await telegram.wait_for_message(1121, after=0)
        await telegram.press(chat, user, menu.message_id, button(menu, "Language"))
        await telegram.wait_for(lambda: "✅ English" in str(menu.buttons))
        shown = (menu.content, menu.buttons)

        query = await telegram.press(chat, user, menu.message_id, button(menu, "English"))
        answer = await telegram.wait_for_answer(query)

    assert answer["text"] == "Saved."
    assert (menu.content, menu.buttons) == shown
    # Telegram answered the identical edit with "message is not modified"; nobody minds.
    [unchanged] = [c for c in telegram.calls_of("editMessageText") if c.error]
    assert "message is not modified" in unchanged.error
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert await rows(settings, AuditEvent, action="language_changed") == []
