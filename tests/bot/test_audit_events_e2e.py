"""The audit log hears of what changes a recording or a group without an admin command.

Topic, title and description corrections, each platform's publishing outcome (under whoever
pressed Publish), and the bot being removed from a group. Media removed by retention is
checked in tests/jobs/test_retention.py.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from leap.settings import Settings
from storage import repo
from storage.crypto import SecretBox
from storage.db import create_engine, session_maker
from storage.models import AuditEvent
from tests.bot import chat_fixtures
from tests.bot.chat_fixtures import button, reviewable, rows, seen
from tests.bot.test_roles_e2e import group_with_owner
from tests.conftest import RunningBot
from tests.fakes.telegram import BotMessage, FakeTelegram

lecture_video = chat_fixtures.lecture_video

MISSING_CHANNEL = -1009999999999


async def events(settings: Settings, *actions: str) -> list[AuditEvent]:
    return [e for e in await rows(settings, AuditEvent) if e.action in actions]


async def wait_for_events(
    settings: Settings, count: int, *actions: str, timeout: float = 20.0
) -> list[AuditEvent]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        found = await events(settings, *actions)
        if len(found) >= count:
            return found
        assert loop.time() < deadline, [(e.action, e.details) for e in found]
        await asyncio.sleep(0.1)


async def connect_missing_channel(settings: Settings, workspace_id: int) -> None:
    """A channel connection whose channel has gone: publishing there fails with a reason."""
    assert settings.secret_key is not None
    box = SecretBox(settings.secret_key.get_secret_value())
    engine = create_engine(settings.database_url)
    try:
        async with session_maker(engine)() as session:
            await repo.store_credential(
                session,
                workspace_id,
                box,
                provider="telegram",
                account_name="Old channel",
                payload={"chat_id": MISSING_CHANNEL, "title": "Old channel", "username": None},
            )
            await session.commit()
    finally:
        await engine.dispose()


async def reply_to_prompt(
    telegram: FakeTelegram,
    group: dict[str, Any],
    user: dict[str, Any],
    asks: str,
    answer: str,
    saved: str,
) -> None:
    prompt = await telegram.wait_for_message(group["id"], lambda m: asks in seen(m), after=0)
    mark = telegram.mark()
    await telegram.send_text(group, user, answer, reply_to=prompt.message_id)
    await telegram.wait_for_message(group["id"], lambda m: saved in seen(m), after=mark)


async def test_corrections_and_publishing_outcomes_are_logged_with_who_did_them(
    app: RunningBot, telegram: FakeTelegram, lecture_video: Path
) -> None:
    group = telegram.group(-100861, "Signals")
    owner = telegram.user(2401, "Olga", language_code="en")
    member = telegram.user(2402, "Mia", language_code="en")
    telegram.set_admins(group["id"], [], creator=owner["id"])
    made = await reviewable(app.settings, telegram, group, owner, lecture_video)
    await connect_missing_channel(app.settings, made.workspace_id)
    card: BotMessage = await telegram.wait_for_message(
        group["id"], lambda m: "Ready for review" in seen(m), after=0
    )
    target = f"recording:{made.recording_id}"

    # A member renames a topic; the owner changes the title and the description.
    await telegram.press(group, member, card.message_id, button(card, "Topics"))
    editor = await telegram.wait_for_message(
        group["id"], lambda m: "corrected list" in str(m.buttons), after=0
    )
    await telegram.press(group, member, editor.message_id, button(editor, "2. Sampling"))
    await telegram.wait_for(lambda: "Topic 2" in seen(editor))
    await telegram.press(group, member, editor.message_id, button(editor, "Rename"))
    await reply_to_prompt(
        telegram, group, member, "new name of topic 2", "Sampling theory", "saved"
    )

    await telegram.press(group, owner, card.message_id, button(card, "Title"))
    await reply_to_prompt(telegram, group, owner, "new title", "Signals, week 3", "Saved")
    await telegram.press(group, owner, card.message_id, button(card, "Description"))
    await reply_to_prompt(
        telegram, group, owner, "new description", "Sampling and aliasing.", "Saved"
    )

    [topics] = await events(app.settings, "topics_changed")
    assert (topics.user_id, topics.target) == (member["id"], target)
    assert topics.details == {"how": "rename", "count": 4}
    [title] = await events(app.settings, "title_changed")
    assert (title.user_id, title.target, title.details) == (
        owner["id"],
        target,
        {"title": "Signals, week 3"},
    )
    [description] = await events(app.settings, "description_changed")
    assert (description.user_id, description.target) == (owner["id"], target)

    # The owner publishes to the file and to a channel that is gone: one outcome each.
    await telegram.press(group, owner, card.message_id, button(card, "Telegram channel"))
    await telegram.wait_for(lambda: "Publish to: Telegram channel, File" in seen(card))
    await telegram.press(group, owner, card.message_id, button(card, "Publish"))
    found = await wait_for_events(app.settings, 2, "published", "publish_failed")
    outcomes = {e.details["platforms"][0]: e for e in found}
    assert {p: e.action for p, e in outcomes.items()} == {
        "telegram": "publish_failed",
        "export": "published",
    }
    assert {(e.user_id, e.target) for e in found} == {(owner["id"], target)}
    assert "can't post to the channel" in outcomes["telegram"].details["error"]
    assert outcomes["export"].details["url"] is None

    # /audit tells both outcomes, and why the channel got nothing.
    mark = telegram.mark()
    await telegram.send_text(group, owner, "/audit")
    log = await telegram.wait_for_message(group["id"], lambda m: "Audit log" in seen(m), after=mark)
    assert "<b>publishing failed</b> · recording" in log.content
    assert "can&#x27;t post to the channel" in log.content or "can't post" in log.content
    assert "<b>published</b> · recording" in log.content


async def test_the_bot_being_removed_from_a_group_is_logged(
    app: RunningBot, telegram: FakeTelegram
) -> None:
    group, _owner = await group_with_owner(app, telegram, -100871)
    admin = telegram.user(2411, "Adam", language_code="en")
    said = len(telegram.sent(group["id"]))
    await telegram.set_bot_status(group, admin, old="member", new="kicked")

    [removed] = await wait_for_events(app.settings, 1, "bot_removed")
    assert (removed.user_id, removed.target) == (admin["id"], str(group["id"]))
    assert removed.details == {"status": "kicked"}
    [added] = await events(app.settings, "bot_added")
    assert added.workspace_id == removed.workspace_id
    # Nothing is said in a group the bot has just left.
    assert len(telegram.sent(group["id"])) == said
