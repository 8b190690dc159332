"""/audit names every platform's connection by the platform it publishes to, Yandex Disk too."""

from __future__ import annotations

import pytest

from storage import repo
from storage.db import create_engine, session_maker
from tests.bot.chat_fixtures import button
from tests.bot.test_roles_e2e import ask, group_with_owner, press
from tests.conftest import RunningBot
from tests.fakes.telegram import FakeTelegram

NAMES = {
    "en": ("connected an account", "Yandex Disk (ann@yandex.ru)", "VK (Lectures)"),
    "ru": ("подключил", "Яндекс Диск (ann@yandex.ru)", "VK (Lectures)"),
}


async def _connections(app: RunningBot, chat_id: int, owner_id: int) -> None:
    """As bot/oauth.py logs a finished sign-in: by the provider's name."""
    engine = create_engine(app.settings.database_url)
    try:
        async with session_maker(engine)() as session:
            workspace = await repo.workspace_by_chat(session, chat_id)
            assert workspace is not None
            for provider, account in (("vk", "Lectures"), ("yandex", "ann@yandex.ru")):
                await repo.audit(
                    session, workspace.id, owner_id, "connection_added", provider, account=account
                )
            await session.commit()
    finally:
        await engine.dispose()


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_a_yandex_disk_connection_is_named_in_the_log(
    app: RunningBot, telegram: FakeTelegram, lang: str
) -> None:
    group, owner = await group_with_owner(app, telegram, -100961 if lang == "en" else -100962)
    await _connections(app, group["id"], owner["id"])
    if lang == "ru":
        language = await ask(telegram, group, owner, "/language")
        await press(telegram, group, owner, language, button(language, "Русский"))
    log = await ask(telegram, group, owner, "/audit")
    action, yandex, vk = NAMES[lang]
    assert f"{action}" in log.content
    assert yandex in log.content and vk in log.content
    assert "Yandex (" not in log.content
