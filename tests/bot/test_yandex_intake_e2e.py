"""A person sends a link into their private Yandex Disk: files come through the API, folders ask.

Yandex (OAuth and the Disk API with its download addresses) is `FakeYandex` on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from leap.settings import Settings
from storage import repo
from storage.crypto import SecretBox
from storage.db import create_engine, session_maker
from storage.files import MediaStore
from storage.models import Credential, Recording, Role, WorkspaceKind
from tests.bot.chat_fixtures import button, seen
from tests.bot.test_yandex_connect_e2e import yandex_settings
from tests.conftest import running
from tests.fakes.telegram import BotMessage, FakeTelegram
from tests.fakes.yandex import FakeYandex


@pytest.fixture
async def yandex() -> AsyncIterator[FakeYandex]:
    async with FakeYandex() as fake:
        fake.add_account("ann", "Ann Petrova")
        yield fake


@pytest.fixture
def disk_settings(settings: Settings, yandex: FakeYandex) -> Settings:
    return yandex_settings(settings, yandex).model_copy(update={"retry_delay_scale": 0.001})


def _box(settings: Settings) -> SecretBox:
    assert settings.secret_key is not None
    return SecretBox(settings.secret_key.get_secret_value())


async def _connected(
    settings: Settings,
    yandex: FakeYandex,
    chat: dict[str, Any],
    user: dict[str, Any],
    *,
    ttl: float | None = None,
) -> dict[str, Any]:
    """The chat's workspace with Ann's Yandex Disk connected, as /connect stores it."""
    payload = {
        "access_token": yandex.token_for("ann", ttl=ttl),
        "refresh_token": yandex.refresh_token_for("ann"),
        "expires_at": (datetime.now(UTC) + timedelta(days=300)).isoformat(),
        "login": "ann",
        "uid": "1000",
    }
    engine = create_engine(settings.database_url)
    try:
        async with session_maker(engine)() as session:
            kind = WorkspaceKind.PERSONAL if chat["type"] == "private" else WorkspaceKind.GROUP
            title = chat.get("title") or user["first_name"]
            workspace, _ = await repo.ensure_workspace(session, chat["id"], kind, title)
            await repo.upsert_member(session, workspace.id, user["id"], role=Role.OWNER)
            await repo.store_credential(
                session,
                workspace.id,
                _box(settings),
                provider="yandex",
                account_name="Ann Petrova (ann)",
                payload=payload,
            )
            await session.commit()
    finally:
        await engine.dispose()
    return payload


async def _rows(settings: Settings, model: type) -> list[Any]:
    engine = create_engine(settings.database_url)
    try:
        async with session_maker(engine)() as session:
            return list((await session.scalars(sa.select(model).order_by(model.id))).all())
    finally:
        await engine.dispose()


async def _settled(telegram: FakeTelegram, chat_id: int, done: str, after: int) -> BotMessage:
    reply = await telegram.wait_for_message(chat_id, after=after)
    await telegram.wait_for(lambda: done in seen(reply), timeout=40)
    return reply


def _source(settings: Settings, recording: Recording) -> Path:
    folder = MediaStore(settings.storage_dir).recording_dir(
        recording.workspace_id, recording.id, create=False
    )
    return folder / f"source.{recording.source_ext}"


async def test_a_private_disk_file_comes_through_the_api_with_a_renewed_token(
    disk_settings: Settings, telegram: FakeTelegram, yandex: FakeYandex, small_video: Path
) -> None:
    user = telegram.user(711, "Anna", language_code="en")
    chat = telegram.private_chat(user)
    # The stored token says it is good for months, but the Disk no longer takes it.
    old = await _connected(disk_settings, yandex, chat, user, ttl=-1)
    yandex.accounts["ann"].put_file("disk:/Lectures/Signals 3.mp4", small_video.read_bytes())
    url = "https://disk.yandex.ru/client/disk/Lectures/Signals%203.mp4"

    async with running(disk_settings, telegram):
        mark = telegram.mark()
        await telegram.send_text(chat, user, url)
        progress = await _settled(telegram, chat["id"], "Received", mark)

    assert "Received: 0:08, 320×240" in seen(progress)
    [recording] = await _rows(disk_settings, Recording)
    assert recording.source_name == "Signals 3"
    assert recording.options["yandex_path"] == "disk:/Lectures/Signals 3.mp4"
    assert _source(disk_settings, recording).read_bytes() == small_video.read_bytes()
    [credential] = await _rows(disk_settings, Credential)
    kept = _box(disk_settings).decrypt(credential.payload)
    assert kept["access_token"] != old["access_token"]
    assert yandex.owner_of(kept["access_token"]) == "ann"


async def test_a_disk_folder_becomes_a_batch_once_confirmed_in_russian(
    disk_settings: Settings, telegram: FakeTelegram, yandex: FakeYandex, small_video: Path
) -> None:
    user = telegram.user(712, "Олег", language_code="ru")
    chat = telegram.private_chat(user)
    await _connected(disk_settings, yandex, chat, user)
    data = small_video.read_bytes()
    ann = yandex.accounts["ann"]
    ann.put_file("disk:/Лекции/Лекция 1.mp4", data)
    ann.put_file("disk:/Лекции/Лекция 2.mp4", data)
    ann.put_file("disk:/Лекции/план.pdf", b"%PDF-1.4")

    async with running(disk_settings, telegram):
        mark = telegram.mark()
        await telegram.send_text(chat, user, "disk:/Лекции")
        offer = await _settled(telegram, chat["id"], "Обработать", mark)
        asked = seen(offer)
        # Nothing is queued before the answer.
        assert await _rows(disk_settings, Recording) == []
        mark = telegram.mark()
        await telegram.press(chat, user, offer.message_id, button(offer, "Да, обработать"))
        await telegram.wait_for(lambda: "Поставлено в очередь: 2" in seen(offer), timeout=20)
        await telegram.wait_for(
            lambda: sum("Получено" in seen(m) for m in telegram.sent(chat["id"])) == 2,
            timeout=40,
        )

    assert asked.startswith("📚 Лекции\n2 видео")
    recordings = await _rows(disk_settings, Recording)
    assert [r.options["yandex_path"] for r in recordings] == [
        "disk:/Лекции/Лекция 1.mp4",
        "disk:/Лекции/Лекция 2.mp4",
    ]
    assert [r.source_name for r in recordings] == ["Лекция 1", "Лекция 2"]
    assert all(_source(disk_settings, r).read_bytes() == data for r in recordings)


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("en", ("private place on Yandex Disk", "/connect", "public link")),
        ("ru", ("закрытую часть Яндекс Диска", "/connect", "Публичная ссылка")),
    ],
)
async def test_a_private_link_without_a_connection_says_how_to_connect(
    disk_settings: Settings, telegram: FakeTelegram, lang: str, words: tuple[str, ...]
) -> None:
    user = telegram.user(713 if lang == "en" else 714, "Ivan", language_code=lang)
    chat = telegram.private_chat(user)

    async with running(disk_settings, telegram):
        mark = telegram.mark()
        await telegram.send_text(chat, user, "https://disk.yandex.ru/client/disk/Lectures/a.mp4")
        reply = await _settled(telegram, chat["id"], "❌", mark)

    for word in words:
        assert word in seen(reply), word
    assert await _rows(disk_settings, Recording) == []


@pytest.mark.parametrize(
    ("lang", "text"),
    [
        ("en", "the access was withdrawn or has expired"),
        ("ru", "доступ отозван или истёк"),
    ],
)
async def test_a_withdrawn_disk_access_is_explained(
    disk_settings: Settings,
    telegram: FakeTelegram,
    yandex: FakeYandex,
    small_video: Path,
    lang: str,
    text: str,
) -> None:
    user = telegram.user(715 if lang == "en" else 716, "Maria", language_code=lang)
    chat = telegram.private_chat(user)
    await _connected(disk_settings, yandex, chat, user)
    yandex.accounts["ann"].put_file("disk:/a.mp4", small_video.read_bytes())
    yandex.revoke("ann")

    async with running(disk_settings, telegram):
        mark = telegram.mark()
        await telegram.send_text(chat, user, "disk:/a.mp4")
        reply = await _settled(telegram, chat["id"], "❌", mark)

    assert text in seen(reply) and "/connect" in seen(reply)
    assert await _rows(disk_settings, Recording) == []


async def test_in_a_group_only_admins_bring_files_in_from_the_connected_disk(
    disk_settings: Settings, telegram: FakeTelegram, yandex: FakeYandex, small_video: Path
) -> None:
    group = telegram.group(-100717, "Physics")
    admin = telegram.user(717, "Adam")
    member = telegram.user(718, "Сэм", language_code="ru")
    telegram.set_admins(group["id"], [admin["id"]])
    await _connected(disk_settings, yandex, group, admin)
    yandex.accounts["ann"].put_file("disk:/Private/exam.mp4", small_video.read_bytes())

    async with running(disk_settings, telegram):
        mark = telegram.mark()
        await telegram.send_text(group, member, "disk:/Private/exam.mp4")
        refused = await _settled(telegram, group["id"], "❌", mark)
        mark = telegram.mark()
        await telegram.send_text(group, admin, "disk:/Private/exam.mp4")
        taken = await _settled(telegram, group["id"], "Received", mark)

    assert "могут только администраторы" in seen(refused)
    assert "публичную ссылку" in seen(refused)
    assert "Received: 0:08" in seen(taken)
    [recording] = await _rows(disk_settings, Recording)
    assert recording.created_by == admin["id"]
