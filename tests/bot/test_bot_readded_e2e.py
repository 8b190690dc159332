"""Adding the bot back to a group: nobody gains a role by it, unless nobody runs the group."""

from __future__ import annotations

from storage.models import Role
from tests.bot.test_roles_e2e import ask, group_with_owner, role_of, wait_for_role
from tests.conftest import RunningBot
from tests.fakes.telegram import FakeTelegram


async def test_a_member_who_adds_the_removed_bot_back_stays_a_member(
    app: RunningBot, telegram: FakeTelegram
) -> None:
    group, owner = await group_with_owner(app, telegram, -100811)
    sam = telegram.user(1861, "Sam", language_code="en")
    await ask(telegram, group, sam, "/start")
    assert await role_of(app.settings, sam["id"]) is Role.MEMBER

    await telegram.set_bot_status(group, owner, old="member", new="left")
    mark = telegram.mark()
    await telegram.add_bot_to_group(group, sam)
    welcome = await telegram.wait_for_message(group["id"], after=mark)
    assert "group" in welcome.content

    assert await role_of(app.settings, sam["id"]) is Role.MEMBER
    assert "Only the group's owner" in (await ask(telegram, group, sam, "/roles")).content
    assert "Only admins" in (await ask(telegram, group, sam, "/audit")).content
    # The owner still runs the group, and may still make Sam an admin.
    roles = await ask(telegram, group, owner, "/roles")
    assert "Sam → admin" in str(roles.buttons)


async def test_whoever_adds_the_bot_back_to_a_group_nobody_runs_sets_it_up(
    app: RunningBot, telegram: FakeTelegram
) -> None:
    group = telegram.group(-100812, "Chemistry")
    tim = telegram.user(1871, "Tim", language_code="en")
    sue = telegram.user(1872, "Sue", language_code="en")
    telegram.set_admins(group["id"], [])  # no creator the bot can see, no admins
    await telegram.add_bot_to_group(group, tim)
    await telegram.wait_for_message(group["id"], after=0)
    await wait_for_role(app.settings, tim["id"], Role.ADMIN)

    # Tim leaves the group (his grant goes with him), then the bot is removed and re-added.
    await telegram.chat_member_changed(group, tim, old="member", new="left")
    await wait_for_role(app.settings, tim["id"], Role.MEMBER)
    await telegram.set_bot_status(group, sue, old="member", new="left")
    mark = telegram.mark()
    await telegram.add_bot_to_group(group, sue)
    await telegram.wait_for_message(group["id"], after=mark)
    await wait_for_role(app.settings, sue["id"], Role.ADMIN)
    roles = await ask(telegram, group, sue, "/roles")
    assert "Only the group's owner" not in roles.content
