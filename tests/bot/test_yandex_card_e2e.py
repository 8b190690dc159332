"""The review card with Yandex Disk connected: its toggle, then the folder's link on the card."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from leap.settings import Settings
from storage import repo
from storage.crypto import SecretBox
from storage.db import create_engine, session_maker
from storage.models import WorkspaceKind
from tests.bot import chat_fixtures
from tests.bot.chat_fixtures import SlowFilesTelegram, button, reviewable, seen
from tests.bot.test_yandex_connect_e2e import yandex_settings
from tests.conftest import running
from tests.fakes.yandex import FakeYandex

lecture_video = chat_fixtures.lecture_video
telegram = chat_fixtures.slow_files_telegram

WORDS = {
    "en": {"card": "Ready for review", "publish": "🚀 Publish", "disk": "Yandex Disk"},
    "ru": {"card": "Готово к проверке", "publish": "🚀 Опубликовать", "disk": "Яндекс Диск"},
}


@pytest.fixture
async def yandex() -> AsyncIterator[FakeYandex]:
    async with FakeYandex() as fake:
        fake.add_account("ann", "Ann Petrova")
        yield fake


async def connect_disk(
    settings: Settings, yandex: FakeYandex, chat: dict[str, Any], user: dict[str, Any]
) -> None:
    assert settings.secret_key is not None
    payload = {
        "access_token": yandex.token_for("ann"),
        "refresh_token": yandex.refresh_token_for("ann"),
        "expires_at": (datetime.now(UTC) + timedelta(days=300)).isoformat(),
        "login": "ann",
    }
    engine = create_engine(settings.database_url)
    try:
        async with session_maker(engine)() as session:
            workspace, _ = await repo.ensure_workspace(
                session, chat["id"], WorkspaceKind.PERSONAL, "Ann"
            )
            await repo.store_credential(
                session,
                workspace.id,
                SecretBox(settings.secret_key.get_secret_value()),
                provider="yandex",
                account_name="Ann Petrova (ann)",
                payload=payload,
                created_by=user["id"],
            )
            await session.commit()
    finally:
        await engine.dispose()


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_the_card_publishes_to_yandex_disk_and_shows_the_folders_link(
    settings: Settings,
    telegram: SlowFilesTelegram,
    yandex: FakeYandex,
    lecture_video: Path,
    lang: str,
) -> None:
    words = WORDS[lang]
    configured = yandex_settings(settings, yandex).model_copy(update={"publish_retry_delay": 0.02})
    user_id = 1581 if lang == "en" else 1582
    user = telegram.user(user_id, "Ann", language_code=lang)
    chat = telegram.private_chat(user)
    await connect_disk(configured, yandex, chat, user)

    async with running(configured, telegram):
        await reviewable(configured, telegram, chat, user, lecture_video, language=lang)
        card = await telegram.wait_for_message(user_id, lambda m: words["card"] in seen(m), after=0)
        toggles = [label for label, _data in card.buttons if words["disk"] in label]
        await telegram.press(chat, user, card.message_id, button(card, words["publish"]))
        await telegram.wait_for(
            lambda: bool(card.buttons) and "disk.yandex.ru/d/" in seen(card), timeout=60
        )

    assert toggles and toggles[0].startswith("✅")
    [(folder, url)] = yandex.accounts["ann"].published.items()
    assert folder.startswith("disk:/LEAP/")
    assert f"✅ {words['disk']}: {url}" in seen(card)
    links = [m for m in telegram.sent(user_id) if seen(m).startswith("📺")]
    assert links and url in seen(links[-1])
