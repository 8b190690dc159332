"""Roles in a group: Telegram's admins, admins made with /roles, and members kept out."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from leap.settings import Settings
from storage.db import create_engine, session_maker
from storage.models import AuditEvent, Member, Role, Workspace
from tests.bot.chat_fixtures import button, seen
from tests.conftest import RunningBot
from tests.fakes.telegram import BotMessage, FakeTelegram


async def role_of(settings: Settings, user_id: int) -> Role | None:
    engine = create_engine(settings.database_url)
    try:
        async with session_maker(engine)() as session:
            member = await session.scalar(sa.select(Member).where(Member.user_id == user_id))
            return None if member is None else Role(member.role)
    finally:
        await engine.dispose()


async def touched_after(settings: Settings, user_id: int, moment: datetime) -> None:
    """Until the bot has looked at the user's role after `moment` (chat_member updates do)."""
    engine = create_engine(settings.database_url)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    try:
        while True:
            async with session_maker(engine)() as session:
                seen_at = await session.scalar(
                    sa.select(Member.updated_at).where(Member.user_id == user_id)
                )
            if seen_at is not None and seen_at.replace(tzinfo=UTC) > moment:
                return
            assert loop.time() < deadline, f"user {user_id} last looked at {seen_at}"
            await asyncio.sleep(0.05)
    finally:
        await engine.dispose()


async def wait_for_role(settings: Settings, user_id: int, role: Role) -> None:
    """Until the bot has recorded `role` for the user (updates are handled concurrently)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while (current := await role_of(settings, user_id)) is not role:
        assert loop.time() < deadline, f"user {user_id} is {current}, not {role}"
        await asyncio.sleep(0.05)


async def ask(
    telegram: FakeTelegram, chat: dict[str, Any], user: dict[str, Any], text: str
) -> BotMessage:
    mark = telegram.mark()
    await telegram.send_text(chat, user, text)
    return await telegram.wait_for_message(chat["id"], after=mark)


async def press(
    telegram: FakeTelegram, chat: dict[str, Any], user: dict[str, Any], msg: BotMessage, data: str
) -> dict[str, Any]:
    query = await telegram.press(chat, user, msg.message_id, data)
    return await telegram.wait_for_answer(query)


async def group_with_owner(
    app: RunningBot, telegram: FakeTelegram, chat_id: int, *people: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A group whose creator added the bot; `people` are Telegram admins besides them."""
    group = telegram.group(chat_id, "Physics 101")
    owner = telegram.user(chat_id % 1000 + 1000, "Olga", language_code="en")
    telegram.set_admins(group["id"], [p["id"] for p in people], creator=owner["id"])
    await telegram.add_bot_to_group(group, owner)
    await telegram.wait_for_message(group["id"], after=0)
    await wait_for_role(app.settings, owner["id"], Role.OWNER)
    return group, owner


async def test_promotion_and_demotion_in_telegram_are_followed(
    app: RunningBot, telegram: FakeTelegram
) -> None:
    group, owner = await group_with_owner(app, telegram, -100801)
    sam = telegram.user(1801, "Sam", language_code="en")

    refused = await ask(telegram, group, sam, "/audit")
    assert "Only admins" in refused.content
    assert await role_of(app.settings, sam["id"]) is Role.MEMBER

    await telegram.chat_member_changed(group, sam, old="member", new="administrator", by=owner)
    await wait_for_role(app.settings, sam["id"], Role.ADMIN)
    log = await ask(telegram, group, sam, "/audit")
    assert "Audit log" in log.content
    assert "Olga · <b>added the bot to the group</b>" in log.content

    await telegram.chat_member_changed(group, sam, old="administrator", new="member", by=owner)
    await wait_for_role(app.settings, sam["id"], Role.MEMBER)
    again = await ask(telegram, group, sam, "/audit")
    assert "Only admins" in again.content


async def test_owner_grants_and_revokes_admin_and_a_grant_outlives_telegram_changes(
    app: RunningBot, telegram: FakeTelegram
) -> None:
    adam = telegram.user(1811, "Adam", language_code="en")
    group, owner = await group_with_owner(app, telegram, -100802, adam)
    sam = telegram.user(1812, "Sam", language_code="en")
    await ask(telegram, group, sam, "/start")
    await ask(telegram, group, adam, "/start")

    # Only the owner (or who added the bot) changes roles; a Telegram admin is not enough.
    assert "Only the group's owner" in (await ask(telegram, group, adam, "/roles")).content
    assert "Only the group's owner" in (await ask(telegram, group, sam, "/roles")).content

    roles = await ask(telegram, group, owner, "/roles")
    text = seen(roles)
    assert "Owner: Olga" in text
    assert "Admins in Telegram: Adam" in text
    assert [label for label, _ in roles.buttons] == ["Sam → admin"]

    answer = await press(telegram, group, owner, roles, button(roles, "Sam"))
    assert answer["text"] == "Sam is now an admin."
    assert await role_of(app.settings, sam["id"]) is Role.ADMIN
    await telegram.wait_for(lambda: "Admins made here: Sam" in seen(roles))
    assert [label for label, _ in roles.buttons] == ["⭐ Sam → member"]
    assert "Audit log" in (await ask(telegram, group, sam, "/audit")).content

    # Promoted and then demoted in Telegram: the grant made here still stands.
    for old, new in (("member", "administrator"), ("administrator", "member")):
        before = datetime.now(UTC)
        await telegram.chat_member_changed(group, sam, old=old, new=new, by=owner)
        await touched_after(app.settings, sam["id"], before)
        assert await role_of(app.settings, sam["id"]) is Role.ADMIN

    # A Telegram admin is not demoted here, even by a forged press.
    forged = await telegram.press(
        group, owner, roles.message_id, f"ro1:revoke:{adam['id']}:0", force=True
    )
    assert "stays an admin" in (await telegram.wait_for_answer(forged))["text"]
    assert await role_of(app.settings, adam["id"]) is Role.ADMIN

    answer = await press(telegram, group, owner, roles, button(roles, "Sam"))
    assert answer["text"] == "Sam is a member again."
    assert await role_of(app.settings, sam["id"]) is Role.MEMBER
    assert "Only admins" in (await ask(telegram, group, sam, "/audit")).content

    engine = create_engine(app.settings.database_url)
    try:
        async with session_maker(engine)() as session:
            actions = (
                await session.scalars(
                    sa.select(AuditEvent.action).where(AuditEvent.user_id == owner["id"])
                )
            ).all()
    finally:
        await engine.dispose()
    assert actions.count("role_granted") == 1 and actions.count("role_revoked") == 1


async def test_the_person_who_added_the_bot_manages_roles_without_being_a_telegram_admin(
    app: RunningBot, telegram: FakeTelegram
) -> None:
    group = telegram.group(-100803, "Chemistry")
    creator = telegram.user(1821, "Cleo", language_code="en")
    teacher = telegram.user(1822, "Tim", language_code="en")
    student = telegram.user(1823, "Sue", language_code="en")
    telegram.set_admins(group["id"], [], creator=creator["id"])
    await telegram.add_bot_to_group(group, teacher)
    await telegram.wait_for_message(group["id"], after=0)
    await wait_for_role(app.settings, teacher["id"], Role.ADMIN)

    await ask(telegram, group, student, "/start")
    roles = await ask(telegram, group, teacher, "/roles")
    answer = await press(telegram, group, teacher, roles, button(roles, "Sue"))
    assert answer["text"] == "Sue is now an admin."
    assert await role_of(app.settings, student["id"]) is Role.ADMIN

    # A member's own buttons are refused, whatever the message shows them.
    other = telegram.user(1824, "Ola", language_code="en")
    await ask(telegram, group, other, "/start")
    query = await telegram.press(group, other, roles.message_id, roles.buttons[0][1])
    assert "Only the group's owner" in (await telegram.wait_for_answer(query))["text"]
    assert await role_of(app.settings, student["id"]) is Role.ADMIN


async def test_a_stale_role_is_read_again_from_telegram(
    app: RunningBot, telegram: FakeTelegram
) -> None:
    group, owner = await group_with_owner(app, telegram, -100804)
    rita = telegram.user(1831, "Rita", language_code="en")
    await ask(telegram, group, rita, "/start")
    assert await role_of(app.settings, rita["id"]) is Role.MEMBER

    # Promoted while the bot heard nothing (it was not an admin then, say), a day ago.
    telegram.set_admins(group["id"], [rita["id"]], creator=owner["id"])
    engine = create_engine(app.settings.database_url)
    try:
        async with session_maker(engine)() as session:
            await session.execute(
                sa.update(Member)
                .where(Member.user_id == rita["id"])
                .values(updated_at=datetime.now(UTC) - timedelta(hours=25))
            )
            await session.commit()
    finally:
        await engine.dispose()

    log = await ask(telegram, group, rita, "/audit")
    assert "Audit log" in log.content
    assert await role_of(app.settings, rita["id"]) is Role.ADMIN


async def test_roles_in_a_private_chat_are_explained(
    app: RunningBot, telegram: FakeTelegram
) -> None:
    user = telegram.user(1841, "Pat", language_code="ru")
    answer = await ask(telegram, telegram.private_chat(user), user, "/roles")
    assert "командных пространствах" in answer.content


async def test_only_admins_change_a_groups_language_and_the_log_keeps_it(
    app: RunningBot, telegram: FakeTelegram
) -> None:
    group, owner = await group_with_owner(app, telegram, -100805)
    sam = telegram.user(1851, "Sam", language_code="en")

    menu = await ask(telegram, group, sam, "/language")
    answer = await press(telegram, group, sam, menu, button(menu, "Русский"))
    # Refused in the language the member pressed: the one they read best.
    assert answer["show_alert"] is True
    assert answer["text"] == "Это могут делать только администраторы пространства."
    assert "Choose the language" in (await ask(telegram, group, sam, "/language")).content

    await press(telegram, group, owner, menu, button(menu, "Русский"))
    await telegram.wait_for(lambda: "✓ Русский" in str(menu.buttons))
    # Pressing the language the group already speaks changes nothing and logs nothing.
    await press(telegram, group, owner, menu, button(menu, "Русский"))

    log = await ask(telegram, group, owner, "/audit")
    assert "Olga · <b>сменил язык группы</b> · Русский" in log.content
    assert log.content.count("сменил язык группы") == 1
    assert "Sam" not in log.content


async def _workspace_settings(settings: Settings, chat_id: int) -> dict[str, Any]:
    engine = create_engine(settings.database_url)
    try:
        async with session_maker(engine)() as session:
            found = await session.scalar(
                sa.select(Workspace.settings).where(Workspace.chat_id == chat_id)
            )
            return dict(found or {})
    finally:
        await engine.dispose()


async def _sam_made_admin_and_platforms_open(
    app: RunningBot, telegram: FakeTelegram, chat_id: int
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any], BotMessage, BotMessage]:
    """Olga's group where she made Sam an admin; Adam, a Telegram admin, has /settings open."""
    adam = telegram.user(chat_id % 1000 + 2000, "Adam", language_code="en")
    group, owner = await group_with_owner(app, telegram, chat_id, adam)
    sam = telegram.user(chat_id % 1000 + 3000, "Sam", language_code="en")
    await ask(telegram, group, sam, "/start")
    roles = await ask(telegram, group, owner, "/roles")
    assert (await press(telegram, group, owner, roles, button(roles, "Sam")))["text"] == (
        "Sam is now an admin."
    )
    await telegram.wait_for(lambda: "⭐ Sam" in str(roles.buttons))
    prefs = await ask(telegram, group, adam, "/settings")
    await press(telegram, group, adam, prefs, button(prefs, "Platforms"))
    await telegram.wait_for(lambda: "YouTube" in str(prefs.buttons))
    return group, owner, adam, sam, roles, prefs


async def test_a_settings_change_made_meanwhile_does_not_bring_back_a_revoked_admin(
    app: RunningBot, telegram: FakeTelegram
) -> None:
    group, owner, adam, sam, roles, prefs = await _sam_made_admin_and_platforms_open(
        app, telegram, -100806
    )
    # Adam's role is a day old, so his press first asks Telegram for the group's admins;
    # Olga takes Sam's admin back while Telegram is slow to answer.
    engine = create_engine(app.settings.database_url)
    try:
        async with session_maker(engine)() as session:
            await session.execute(
                sa.update(Member)
                .where(Member.user_id == adam["id"])
                .values(updated_at=datetime.now(UTC) - timedelta(hours=25))
            )
            await session.commit()
    finally:
        await engine.dispose()
    slow = telegram.hold("getChatAdministrators")
    youtube = await telegram.press(group, adam, prefs.message_id, button(prefs, "YouTube"))
    await slow.reached()
    revoked = await press(telegram, group, owner, roles, button(roles, "Sam"))
    slow.release()
    saved = await telegram.wait_for_answer(youtube)

    assert revoked["text"] == "Sam is a member again."
    assert saved["text"] == "Saved."
    stored = await _workspace_settings(app.settings, group["id"])
    assert stored["platforms"] == ["youtube"]
    assert stored["roles"]["granted"] == []
    # Promoted and demoted in Telegram, Sam is a member: no grant of Olga's stands any more.
    await telegram.chat_member_changed(group, sam, old="member", new="administrator", by=owner)
    await wait_for_role(app.settings, sam["id"], Role.ADMIN)
    await telegram.chat_member_changed(group, sam, old="administrator", new="member", by=owner)
    await wait_for_role(app.settings, sam["id"], Role.MEMBER)


async def test_a_revoke_made_meanwhile_does_not_undo_a_settings_change(
    app: RunningBot, telegram: FakeTelegram
) -> None:
    group, owner, adam, sam, roles, prefs = await _sam_made_admin_and_platforms_open(
        app, telegram, -100807
    )
    # Olga's press asks Telegram how Sam stands; Adam changes /settings while it is slow.
    slow = telegram.hold("getChatMember", user_id=sam["id"])
    revoke = await telegram.press(group, owner, roles.message_id, button(roles, "Sam"))
    await slow.reached()
    saved = await press(telegram, group, adam, prefs, button(prefs, "YouTube"))
    slow.release()
    revoked = await telegram.wait_for_answer(revoke)

    assert saved["text"] == "Saved."
    assert revoked["text"] == "Sam is a member again."
    stored = await _workspace_settings(app.settings, group["id"])
    assert stored["platforms"] == ["youtube"]
    assert stored["roles"]["granted"] == []
    assert "Publish to: YouTube" in seen(await ask(telegram, group, adam, "/settings"))
