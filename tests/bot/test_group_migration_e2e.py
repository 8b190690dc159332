"""A group that becomes a supergroup keeps its workspace: recordings, templates, roles, log."""

from __future__ import annotations

import asyncio
from pathlib import Path

import yaml

from storage.models import AuditEvent, Recording, Role, Workspace
from tests.bot import chat_fixtures
from tests.bot.chat_fixtures import button, reviewable, rows, seen
from tests.bot.test_roles_e2e import ask, role_of, wait_for_role
from tests.conftest import RunningBot
from tests.fakes.telegram import FakeTelegram

lecture_video = chat_fixtures.lecture_video

OLD = -4801
NEW = -1004801


async def _moved(app: RunningBot) -> Workspace:
    """The one workspace left, once it carries the supergroup's chat id."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while True:
        found = await rows(app.settings, Workspace)
        if [w.chat_id for w in found] == [NEW]:
            return found[0]
        assert loop.time() < deadline, [(w.id, w.chat_id) for w in found]
        await asyncio.sleep(0.05)


async def test_a_group_upgraded_to_a_supergroup_keeps_its_workspace(
    app: RunningBot, telegram: FakeTelegram, lecture_video: Path
) -> None:
    group = telegram.basic_group(OLD, "Physics 101")
    owner = telegram.user(1901, "Olga", language_code="en")
    sam = telegram.user(1902, "Sam", language_code="en")
    telegram.set_admins(OLD, [], creator=owner["id"])
    await telegram.add_bot_to_group(group, owner)
    await telegram.wait_for_message(OLD, after=0)
    await wait_for_role(app.settings, owner["id"], Role.OWNER)

    # The group's things: a template, a recording under review, an admin made with /roles.
    template = {"name": "Seminars", "title_template": "Seminar: {{ title }}"}
    await telegram.send_document(
        group, owner, yaml.safe_dump(template).encode(), file_name="t.yaml", mime_type="text/yaml"
    )
    await telegram.wait_for_message(OLD, lambda m: "saved from the file" in seen(m))
    made = await reviewable(app.settings, telegram, group, owner, lecture_video)
    await telegram.wait_for_message(OLD, lambda m: "Ready for review" in seen(m), after=0)
    await ask(telegram, group, sam, "/start")
    roles = await ask(telegram, group, owner, "/roles")
    query = await telegram.press(group, owner, roles.message_id, button(roles, "Sam"))
    await telegram.wait_for_answer(query)
    assert await role_of(app.settings, sam["id"]) is Role.ADMIN
    [before] = await rows(app.settings, Workspace)

    supergroup = await telegram.migrate_to_supergroup(group, NEW, by=owner)
    after = await _moved(app)
    assert after.id == before.id == made.workspace_id
    recording = (await rows(app.settings, Recording))[0]
    assert recording.chat_id == NEW
    [event] = await rows(app.settings, AuditEvent, action="chat_migrated")
    assert (event.target, event.details["was"]) == (str(NEW), OLD)

    # The recording under review carries on in the supergroup: the old chat takes no messages.
    listing = await ask(telegram, supergroup, owner, "/recordings")
    await telegram.press(supergroup, owner, listing.message_id, button(listing, "signals-lecture"))
    await telegram.wait_for(lambda: "Review card" in str(listing.buttons))
    mark = telegram.mark()
    await telegram.press(supergroup, owner, listing.message_id, button(listing, "Review card"))
    card = await telegram.wait_for_message(NEW, lambda m: "Ready for review" in seen(m), after=mark)
    # Both answers are looked for from before the press: the second may come right after the first.
    mark = telegram.mark()
    await telegram.press(supergroup, owner, card.message_id, button(card, "Publish"))
    await telegram.wait_for_message(
        NEW,
        lambda m: m.document is not None and m.document.file_name.endswith(".zip"),
        timeout=30,
        after=mark,
    )
    await telegram.wait_for_message(
        NEW, lambda m: "is published" in seen(m), timeout=30, after=mark
    )
    templates = await ask(telegram, supergroup, owner, "/templates")
    assert "Seminars" in seen(templates) + str(templates.buttons)
    assert "Audit log" in (await ask(telegram, supergroup, sam, "/audit")).content
    assert [w.id for w in await rows(app.settings, Workspace)] == [before.id]
