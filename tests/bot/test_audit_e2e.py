"""/audit: the workspace's log by pages, actions named in the chat's language, for admins."""

from __future__ import annotations

from storage import repo
from storage.db import create_engine, session_maker
from tests.bot.chat_fixtures import button, seen
from tests.bot.test_roles_e2e import ask, group_with_owner, press
from tests.conftest import RunningBot
from tests.fakes.telegram import FakeTelegram


async def earlier_actions(app: RunningBot, chat_id: int, owner_id: int) -> None:
    """What the owner did before: written as the other handlers and the workers write it."""
    engine = create_engine(app.settings.database_url)
    try:
        async with session_maker(engine)() as session:
            workspace = await repo.workspace_by_chat(session, chat_id)
            assert workspace is not None
            for n in range(10):
                await repo.audit(
                    session, workspace.id, owner_id, "retry", f"recording:{n + 1}", stage="trim"
                )
            await repo.audit(
                session,
                workspace.id,
                owner_id,
                "connection_added",
                "youtube",
                account="Lecture channel",
            )
            await repo.audit(
                session, workspace.id, owner_id, "publish_requested", "5", platforms=["youtube"]
            )
            await repo.audit(session, workspace.id, owner_id, "delete", "recording:4", name="x")
            await repo.audit(
                session, workspace.id, owner_id, "template_changed", "template:2", name="Physics"
            )
            await repo.audit(
                session, workspace.id, owner_id, "settings_changed", "lang", value="ru"
            )
            await session.commit()
    finally:
        await engine.dispose()


async def test_audit_is_paged_named_in_the_chats_language_and_for_admins_only(
    app: RunningBot, telegram: FakeTelegram
) -> None:
    group, owner = await group_with_owner(app, telegram, -100951)
    await earlier_actions(app, group["id"], owner["id"])
    sam = telegram.user(2101, "Sam", language_code="en")
    await ask(telegram, group, sam, "/start")
    roles = await ask(telegram, group, owner, "/roles")
    await press(telegram, group, owner, roles, button(roles, "Sam"))

    log = await ask(telegram, group, owner, "/audit")
    lines = log.content.splitlines()
    assert "page 1 of 2" in lines[0]
    entries = lines[2:]
    assert len(entries) == 10
    assert entries[0].endswith(" · Olga · <b>made an admin</b> · Sam")
    assert entries[1].endswith("<b>changed the settings</b> · lang: ru")
    assert entries[2].endswith("<b>changed a template</b> · template «Physics»")
    assert entries[3].endswith("<b>deleted</b> · recording #4")
    assert entries[4].endswith("<b>sent to publishing</b> · recording #5 → YouTube")
    assert entries[5].endswith("<b>connected an account</b> · YouTube (Lecture channel)")
    assert [label for label, _ in log.buttons] == ["Older ▶️"]

    await press(telegram, group, owner, log, button(log, "Older"))
    await telegram.wait_for(lambda: "page 2 of 2" in seen(log))
    assert seen(log).splitlines()[-1].endswith("Olga · added the bot to the group")
    assert [label for label, _ in log.buttons] == ["◀️ Newer"]
    await press(telegram, group, owner, log, button(log, "Newer"))
    await telegram.wait_for(lambda: "page 1 of 2" in seen(log))

    # An admin made here reads it too; a member is refused, by command and by button.
    assert "Audit log" in (await ask(telegram, group, sam, "/audit")).content
    ola = telegram.user(2102, "Ola", language_code="en")
    assert "Only admins" in (await ask(telegram, group, ola, "/audit")).content
    query = await telegram.press(group, ola, log.message_id, button(log, "Older"))
    assert "Only admins" in (await telegram.wait_for_answer(query))["text"]

    language = await ask(telegram, group, owner, "/language")
    await press(telegram, group, owner, language, button(language, "Русский"))
    russian = await ask(telegram, group, owner, "/audit")
    assert "Журнал действий" in russian.content
    assert "Olga · <b>назначил администратором</b> · Sam" in russian.content
    assert "<b>отправил на публикацию</b> · запись №5 → YouTube" in russian.content


async def test_an_empty_log_says_so(app: RunningBot, telegram: FakeTelegram) -> None:
    user = telegram.user(2111, "Nia", language_code="en")
    answer = await ask(telegram, telegram.private_chat(user), user, "/audit")
    assert "Nothing has been recorded here yet" in answer.content
