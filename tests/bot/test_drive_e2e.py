"""A person sends a link to a private Google Drive file: access asked for once, then downloaded.

Google (OAuth, YouTube, Drive files.get with ``alt=media`` and Range) is `FakeDrive` on
127.0.0.1; yt-dlp never reaches the real drive.google.com for these made-up file ids, so
it refuses them as it refuses a private file.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from integrations import google_oauth
from leap.settings import Settings
from storage import repo
from storage.crypto import SecretBox
from storage.db import create_engine, session_maker
from storage.files import MediaStore
from storage.models import Credential, Recording, Role, WorkspaceKind
from tests.bot.chat_fixtures import button, seen
from tests.bot.test_connections_e2e import confirm
from tests.conftest import running
from tests.fakes.drive import FakeDrive
from tests.fakes.telegram import BotMessage, FakeTelegram

BOTH = {google_oauth.YOUTUBE_FORCE_SSL, google_oauth.DRIVE_READONLY}


@pytest.fixture
async def drive() -> AsyncIterator[FakeDrive]:
    async with FakeDrive() as fake:
        yield fake


@pytest.fixture
def drive_settings(settings: Settings, drive: FakeDrive) -> Settings:
    return settings.model_copy(
        update={
            "public_base_url": f"http://127.0.0.1:{settings.web_port}",
            "youtube_client_id": drive.client_id,
            "youtube_client_secret": SecretStr(drive.client_secret),
            "google_auth_url": drive.auth_url,
            "google_token_url": drive.token_url,
            "youtube_api_url": drive.api_url,
            "retry_delay_scale": 0.001,
        }
    )


def _box(settings: Settings) -> SecretBox:
    assert settings.secret_key is not None
    return SecretBox(settings.secret_key.get_secret_value())


async def _connected(
    settings: Settings, drive: FakeDrive, chat: dict[str, Any], user: dict[str, Any]
) -> dict[str, str]:
    """The private chat's workspace with a Google connection that may read Drive."""
    tokens = drive.issue_tokens(BOTH)
    payload = {
        **tokens,
        "expires_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
        "scope": " ".join(sorted(BOTH)),
        "channel": "Lecture Hall",
    }
    engine = create_engine(settings.database_url)
    try:
        async with session_maker(engine)() as session:
            workspace, _ = await repo.ensure_workspace(
                session, chat["id"], WorkspaceKind.PERSONAL, user["first_name"]
            )
            await repo.upsert_member(session, workspace.id, user["id"], role=Role.OWNER)
            await repo.store_credential(
                session,
                workspace.id,
                _box(settings),
                provider="youtube",
                account_name="Lecture Hall",
                payload=payload,
            )
            await session.commit()
    finally:
        await engine.dispose()
    return tokens


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


def _stored_source(settings: Settings, recording: Recording) -> Path:
    folder = MediaStore(settings.storage_dir).recording_dir(
        recording.workspace_id, recording.id, create=False
    )
    return folder / f"source.{recording.source_ext}"


async def test_private_drive_file_asks_for_drive_access_once_then_downloads(
    drive_settings: Settings, telegram: FakeTelegram, drive: FakeDrive, small_video: Path
) -> None:
    user = telegram.user(611, "Anna", language_code="en")
    chat = telegram.private_chat(user)
    entry = drive.add_file(small_video.read_bytes(), "Signals, lecture 3.mp4")
    url = f"https://drive.google.com/file/d/{entry.id}/view?usp=sharing"

    async with running(drive_settings, telegram):
        mark = telegram.mark()
        await telegram.send_text(chat, user, url)
        refusal = await _settled(telegram, chat["id"], "probably private", mark)
        assert "❌" in seen(refusal)

        mark = telegram.mark()
        await telegram.press(
            chat, user, refusal.message_id, button(refusal, "read my Google Drive")
        )
        prompt = await telegram.wait_for_message(chat["id"], after=mark)
        assert "read-only" in seen(prompt) and "YouTube access already given stays" in seen(prompt)
        [(label, consent)] = prompt.buttons
        assert label == "Open Google"
        # Drive's read access on top of YouTube's, so the grant keeps both.
        assert set(parse_qs(urlsplit(consent).query)["scope"][0].split()) == BOTH
        async with httpx.AsyncClient() as http:
            await http.get(drive.approve(consent))
        await confirm(telegram, chat, user, "Lecture Hall")
        [credential] = await _rows(drive_settings, Credential)
        stored = _box(drive_settings).decrypt(credential.payload)
        assert set(stored["scope"].split()) == BOTH

        mark = telegram.mark()
        await telegram.send_text(chat, user, url)
        progress = await _settled(telegram, chat["id"], "Received", mark)
        assert "Received: 0:08, 320×240" in seen(progress)
        assert any(t and "Downloading…" in t and "%" in t for t in progress.texts)
        assert drive.ranges and drive.ranges[0].startswith("bytes=0-")

    [recording] = await _rows(drive_settings, Recording)
    assert recording.source_name == "Signals, lecture 3"
    assert recording.options["drive_file"] == entry.id
    assert _stored_source(drive_settings, recording).read_bytes() == small_video.read_bytes()


async def test_broken_download_resumes_and_an_expired_token_is_renewed_in_russian(
    drive_settings: Settings, telegram: FakeTelegram, drive: FakeDrive, small_video: Path
) -> None:
    user = telegram.user(612, "Олег", language_code="ru")
    chat = telegram.private_chat(user)
    tokens = await _connected(drive_settings, drive, chat, user)
    data = small_video.read_bytes()
    entry = drive.add_file(data, "Лекция 5.mp4")
    drive.expire_access_tokens()
    drive.cut_media(after=len(data) // 3)

    async with running(drive_settings, telegram):
        mark = telegram.mark()
        await telegram.send_text(chat, user, f"https://drive.google.com/open?id={entry.id}")
        progress = await _settled(telegram, chat["id"], "Получено", mark)
        assert any(t and "%" in t for t in progress.texts)

    # The second request asked only for what the first one did not bring.
    assert len(drive.ranges) == 2
    first, second = drive.ranges
    assert first is not None and first.startswith("bytes=0-")
    assert second is not None and not second.startswith("bytes=0-")
    [recording] = await _rows(drive_settings, Recording)
    assert recording.source_name == "Лекция 5"
    assert _stored_source(drive_settings, recording).read_bytes() == data
    # The expired access token was renewed once, and the renewal was kept.
    assert drive.token_grants == ["refresh_token"]
    [credential] = await _rows(drive_settings, Credential)
    payload = _box(drive_settings).decrypt(credential.payload)
    assert payload["access_token"] != tokens["access_token"]
    assert payload["refresh_token"] == tokens["refresh_token"]


async def test_withdrawn_access_is_explained(
    drive_settings: Settings, telegram: FakeTelegram, drive: FakeDrive, small_video: Path
) -> None:
    user = telegram.user(613, "Ivan", language_code="en")
    chat = telegram.private_chat(user)
    tokens = await _connected(drive_settings, drive, chat, user)
    entry = drive.add_file(small_video.read_bytes())
    drive.revoke(tokens["refresh_token"])

    async with running(drive_settings, telegram):
        mark = telegram.mark()
        await telegram.send_text(chat, user, f"https://drive.google.com/uc?id={entry.id}")
        reply = await _settled(telegram, chat["id"], "❌", mark)
        assert "access was withdrawn" in seen(reply) and "/connect" in seen(reply)
    assert await _rows(drive_settings, Recording) == []
    assert drive.media_requests == 0


async def test_withdrawn_access_is_explained_in_russian(
    drive_settings: Settings, telegram: FakeTelegram, drive: FakeDrive, small_video: Path
) -> None:
    user = telegram.user(614, "Мария", language_code="ru")
    chat = telegram.private_chat(user)
    tokens = await _connected(drive_settings, drive, chat, user)
    entry = drive.add_file(small_video.read_bytes())
    drive.revoke(tokens["refresh_token"])

    async with running(drive_settings, telegram):
        mark = telegram.mark()
        await telegram.send_text(chat, user, f"https://drive.google.com/file/d/{entry.id}/view")
        reply = await _settled(telegram, chat["id"], "❌", mark)
        assert "доступ отозван" in seen(reply) and "/connect" in seen(reply)


async def test_in_a_group_only_an_admin_may_add_drive_access(
    drive_settings: Settings, telegram: FakeTelegram, drive: FakeDrive, small_video: Path
) -> None:
    group = telegram.group(-1006151, "Signals course")
    owner = telegram.user(615, "Olga", language_code="en")
    member = telegram.user(616, "Маша", language_code="ru")
    telegram.set_admins(group["id"], [], creator=owner["id"])
    telegram.private_chat(owner)  # the admin has talked to the bot before
    entry = drive.add_file(small_video.read_bytes())

    async with running(drive_settings, telegram):
        mark = telegram.mark()
        await telegram.send_text(group, member, f"https://drive.google.com/file/d/{entry.id}/view")
        # The refusal speaks the sender's language.
        refusal = await _settled(telegram, group["id"], "скорее всего, он закрыт", mark)
        query = await telegram.press(group, member, refusal.message_id, button(refusal, "Google"))
        answer = await telegram.wait_for_answer(query)
        assert answer["show_alert"] is True and "администратор" in answer["text"]

        # The admin's press sends the consent link to the admin alone, never into the group.
        mark = telegram.mark()
        await telegram.press(group, owner, refusal.message_id, button(refusal, "Google"))
        private = await telegram.wait_for_message(owner["id"], after=mark)
        [(_label, consent)] = private.buttons
        assert google_oauth.DRIVE_READONLY in parse_qs(urlsplit(consent).query)["scope"][0]
        told = await telegram.wait_for_message(group["id"], after=mark)
        assert "Olga" in seen(told) and not told.buttons


async def test_access_withdrawn_in_the_middle_of_a_download_fails_it_with_what_to_do(
    drive_settings: Settings, telegram: FakeTelegram, drive: FakeDrive, small_video: Path
) -> None:
    user = telegram.user(617, "Ivan", language_code="en")
    chat = telegram.private_chat(user)
    tokens = await _connected(drive_settings, drive, chat, user)
    data = small_video.read_bytes()
    entry = drive.add_file(data)
    # The connection drops half-way, and the person has just removed the app's access.
    drive.cut_media(after=len(data) // 2, then=lambda: drive.revoke(tokens["refresh_token"]))

    async with running(drive_settings, telegram):
        mark = telegram.mark()
        await telegram.send_text(chat, user, f"https://drive.google.com/file/d/{entry.id}/view")
        progress = await _settled(telegram, chat["id"], "access was withdrawn", mark)
        assert "/connect" in seen(progress)
        assert any("Try again" in label for label, _ in progress.buttons)
    # One request brought half the file; the next try was refused before asking for bytes.
    assert drive.media_requests == 1
    [recording] = await _rows(drive_settings, Recording)
    assert recording.failure_code == "drive_revoked"
