"""A review card in a group: members correct, admins decide what is published and where.

A member who presses an admin's button is told, in their own language, who can act.
"""

from __future__ import annotations

from pathlib import Path

from tests.bot import chat_fixtures
from tests.bot.chat_fixtures import recording_row, reviewable, seen
from tests.conftest import RunningBot
from tests.fakes.telegram import FakeTelegram

lecture_video = chat_fixtures.lecture_video


async def test_only_admins_choose_platforms_and_a_member_is_told_who_can(
    app: RunningBot, telegram: FakeTelegram, lecture_video: Path
) -> None:
    group = telegram.group(-100881, "Signals course")
    owner = telegram.user(881, "Olga", language_code="en")
    admin = telegram.user(882, "Adam", language_code="en")
    student = telegram.user(883, "Саша", language_code="ru")
    telegram.set_admins(group["id"], [admin["id"]], creator=owner["id"])
    made = await reviewable(app.settings, telegram, group, owner, lecture_video)
    card = await telegram.wait_for_message(group["id"], lambda m: "📋" in seen(m), after=0)
    # The admins the bot knows are named under the card, so Telegram tells them it waits.
    call = await telegram.wait_for_message(
        group["id"], lambda m: "waiting for an admin" in seen(m), after=0
    )
    assert "Olga" in seen(call) and 'href="tg://user?id=881"' in (call.content or "")
    # The admin makes sure the bot knows them (their first press is where it learns).
    file_toggle = next(data for label, data in card.buttons if "File" in label)
    await telegram.wait_for_answer(await telegram.press(group, admin, card.message_id, file_toggle))
    before = (await recording_row(app.settings, made.recording_id)).media.get("review")

    # The Russian-speaking member of the English group unticks a platform: refused, in Russian,
    # naming who can; nothing changes.
    query = await telegram.press(group, student, card.message_id, file_toggle)
    answer = await telegram.wait_for_answer(query)
    assert answer["show_alert"] is True
    assert "только администраторы группы" in answer["text"], answer["text"]
    assert "Olga" in answer["text"] and "Adam" in answer["text"]
    assert (await recording_row(app.settings, made.recording_id)).media.get("review") == before

    # Publish pressed by the member: the same, and the card keeps the group's language.
    publish = next(data for label, data in card.buttons if "Publish" in label)
    answer = await telegram.wait_for_answer(
        await telegram.press(group, student, card.message_id, publish)
    )
    assert "только администраторы группы" in answer["text"]
    assert "Ready for review" in seen(card)
