"""People connect Zoom in the chat and import recordings from it; the bot talks to a fake Zoom."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from leap.settings import Settings
from storage.crypto import SecretBox
from storage.db import create_engine
from storage.files import MediaStore
from storage.models import Credential, Recording, Role, StageRun, Workspace
from tests.bot.test_roles_e2e import wait_for_role
from tests.conftest import TEST_SECRET_KEY, running
from tests.fakes.telegram import FakeTelegram
from tests.fakes.zoom import FakeZoom


@pytest.fixture
async def zoom() -> AsyncIterator[FakeZoom]:
    async with FakeZoom() as server:
        yield server


def zoom_settings(settings: Settings, zoom: FakeZoom) -> Settings:
    # The thresholds are operator settings; the test videos are seconds long and kilobytes big.
    return settings.model_copy(
        update={
            "zoom_api_url": zoom.api_url,
            "zoom_oauth_url": zoom.oauth_url,
            "zoom_min_minutes": 20,
            "zoom_min_mb": 0.01,
        }
    )


async def rows(url: str, model: type) -> list[Any]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(sa.select(model).order_by(model.id))).all())
    finally:
        await engine.dispose()


def credentials_text(zoom: FakeZoom, *, secret: str | None = None) -> str:
    return (
        f"Account ID: {zoom.account_id}\n"
        f"Client ID: {zoom.client_id}\n"
        f"Client Secret: {secret or zoom.client_secret}"
    )


async def connect_privately(telegram: FakeTelegram, user: dict[str, Any], zoom: FakeZoom) -> str:
    """The person connects Zoom in their private chat; returns the bot's final answer."""
    chat = telegram.private_chat(user)
    mark = telegram.mark()
    await telegram.send_text(chat, user, "/zoom_connect")
    prompt = await telegram.wait_for_message(user["id"], after=mark)
    assert "Server-to-Server" in (prompt.content or "")
    mark = telegram.mark()
    sent = await telegram.send_text(chat, user, credentials_text(zoom))
    status = await telegram.wait_for_message(user["id"], after=mark)
    await telegram.wait_for(lambda: "Checking" not in (status.content or ""))
    assert (user["id"], sent["message_id"]) in telegram.deleted_user_messages
    return status.content or ""


def days_ago(days: int) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(days=days)


async def test_credentials_are_deleted_checked_and_stored_encrypted(
    settings: Settings,
    telegram: FakeTelegram,
    zoom: FakeZoom,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    config = zoom_settings(settings, zoom)
    async with running(config, telegram):
        user = telegram.user(901, "Lena", language_code="en")
        answer = await connect_privately(telegram, user, zoom)
        assert "connected" in answer and zoom.email in answer
        assert zoom.token_grants == [zoom.account_id]

    stored = await rows(config.database_url, Credential)
    assert [(c.provider, c.account_name) for c in stored] == [("zoom", zoom.email)]
    assert zoom.client_secret not in stored[0].payload
    assert SecretBox(TEST_SECRET_KEY).decrypt(stored[0].payload) == zoom.credentials()
    database = Path(config.database_url.split("///", 1)[1])
    for path in database.parent.glob(database.name + "*"):
        assert zoom.client_secret.encode() not in path.read_bytes(), path
    assert zoom.client_secret not in caplog.text


async def test_wrong_credentials_are_refused_and_not_kept(
    settings: Settings,
    telegram: FakeTelegram,
    zoom: FakeZoom,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    config = zoom_settings(settings, zoom)
    wrong = "WrongSecret_55aa"
    async with running(config, telegram):
        user = telegram.user(902, "Ivan", language_code="ru")
        chat = telegram.private_chat(user)
        await telegram.send_text(chat, user, "/zoom_connect")
        await telegram.wait_for_message(902, after=0)
        mark = telegram.mark()
        sent = await telegram.send_text(chat, user, credentials_text(zoom, secret=wrong))
        status = await telegram.wait_for_message(902, after=mark)
        await telegram.wait_for(lambda: "❌" in (status.content or ""))
        assert "Zoom не принял" in (status.content or "")
        assert (902, sent["message_id"]) in telegram.deleted_user_messages

        # Credentials that cannot be read are deleted as well, and explained.
        mark = telegram.mark()
        sent = await telegram.send_text(
            chat, user, f"Account ID: {zoom.account_id}\nClient ID: {zoom.client_id}"
        )
        reply = await telegram.wait_for_message(902, after=mark)
        assert "три значения" in (reply.content or "")
        assert (902, sent["message_id"]) in telegram.deleted_user_messages
    assert await rows(config.database_url, Credential) == []
    assert wrong not in caplog.text


async def test_group_admin_is_sent_to_the_private_chat_and_connects_the_group(
    settings: Settings, telegram: FakeTelegram, zoom: FakeZoom
) -> None:
    config = zoom_settings(settings, zoom)
    async with running(config, telegram):
        group = telegram.group(-100901, "Linear Algebra")
        admin = telegram.user(903, "Olga", language_code="en")
        student = telegram.user(904, "Sam", language_code="en")
        telegram.set_admins(group["id"], [admin["id"]])

        await telegram.send_text(group, student, "/zoom_connect")
        refusal = await telegram.wait_for_message(group["id"], after=0)
        assert "Only admins" in (refusal.content or "")

        mark = telegram.mark()
        await telegram.send_text(group, admin, "/zoom_connect")
        hint = await telegram.wait_for_message(group["id"], after=mark)
        assert "private chat" in (hint.content or "")
        assert any(url.startswith("https://t.me/") for _text, url in hint.buttons)

        # Pasted into the group by mistake: removed at once, and the group is warned.
        mark = telegram.mark()
        pasted = await telegram.send_text(group, student, credentials_text(zoom))
        warning = await telegram.wait_for_message(group["id"], after=mark)
        assert "new client secret" in (warning.content or "")
        assert (group["id"], pasted["message_id"]) in telegram.deleted_user_messages

        answer = await connect_privately(telegram, admin, zoom)
        assert "Linear Algebra" in answer
        note = await telegram.wait_for_message(
            group["id"], lambda m: "Olga" in (m.content or ""), after=0
        )
        assert zoom.email in (note.content or "")

    workspaces = {w.id: w for w in await rows(config.database_url, Workspace)}
    stored = await rows(config.database_url, Credential)
    assert len(stored) == 1
    assert workspaces[stored[0].workspace_id].chat_id == group["id"]


async def test_zoom_lists_recordings_and_a_button_imports_one(
    settings: Settings, telegram: FakeTelegram, zoom: FakeZoom, small_video: Path
) -> None:
    video = small_video.read_bytes()
    lecture = zoom.mp4("shared_screen_with_speaker_view", video, drop_at=len(video) // 2)
    zoom.add_meeting(
        "Linear Algebra 1", days_ago(1), 60, [zoom.mp4("active_speaker", video), lecture]
    )
    zoom.add_meeting("Coffee chat", days_ago(2), 5, [zoom.mp4("active_speaker", video)])
    zoom.add_meeting(
        "Physics", days_ago(3), 50, [zoom.mp4("shared_screen", b"", status="processing")]
    )
    config = zoom_settings(settings, zoom)
    async with running(config, telegram):
        user = telegram.user(905, "Lena", language_code="en")
        chat = telegram.private_chat(user)
        await connect_privately(telegram, user, zoom)

        mark = telegram.mark()
        await telegram.send_text(chat, user, "/zoom")
        listing = await telegram.wait_for_message(905, after=mark)
        await telegram.wait_for(lambda: "Zoom recordings" in (listing.content or ""))
        text = listing.content or ""
        assert "Linear Algebra 1" in text and "1:00:00" in text
        assert "Coffee chat" not in text
        assert "Physics" in text and "still processing" in text
        assert [label for label, _data in listing.buttons] == ["▶️ 1. Linear Algebra 1"]

        mark = telegram.mark()
        await telegram.press(chat, user, listing.message_id, listing.buttons[0][1])
        progress = await telegram.wait_for_message(905, after=mark)
        assert "Linear Algebra 1" in (progress.content or "")
        await telegram.wait_for(lambda: "Received" in (progress.content or ""), timeout=30)
        assert "Received: 0:08, 320×240" in (progress.content or "")

        mark = telegram.mark()
        await telegram.send_text(chat, user, "/zoom")
        again = await telegram.wait_for_message(905, after=mark)
        await telegram.wait_for(lambda: "Zoom recordings" in (again.content or ""))
        assert "imported" in (again.content or "")
        assert again.buttons == []

    recording = (await rows(config.database_url, Recording))[0]
    assert recording.source_kind == "zoom"
    assert recording.source_ref.endswith(f":{lecture.id}")
    assert recording.source_name == "Linear Algebra 1"
    source = (
        MediaStore(config.storage_dir).recording_dir(
            recording.workspace_id, recording.id, create=False
        )
        / "source.mp4"
    )
    assert source.read_bytes() == video
    # The dropped connection was picked up where it stopped.
    assert [d.range is not None for d in zoom.downloads if d.file_id == lecture.id] == [False, True]
    fetch = [r for r in await rows(config.database_url, StageRun) if r.stage == "fetch"]
    assert fetch[0].status == "done"


async def test_in_a_group_only_admins_list_and_import_zoom_recordings(
    settings: Settings, telegram: FakeTelegram, zoom: FakeZoom, small_video: Path
) -> None:
    zoom.add_meeting(
        "Linear Algebra 2", days_ago(1), 60, [zoom.mp4("shared_screen", small_video.read_bytes())]
    )
    config = zoom_settings(settings, zoom)
    async with running(config, telegram):
        group = telegram.group(-100906, "Linear Algebra")
        admin = telegram.user(906, "Olga", language_code="en")
        student = telegram.user(907, "Sam", language_code="en")
        telegram.set_admins(group["id"], [admin["id"]])
        mark = telegram.mark()
        await telegram.send_text(group, admin, "/zoom_connect")
        await telegram.wait_for_message(group["id"], after=mark)
        await connect_privately(telegram, admin, zoom)

        mark = telegram.mark()
        await telegram.send_text(group, student, "/zoom")
        refusal = await telegram.wait_for_message(
            group["id"], lambda m: "Only admins" in (m.content or ""), after=mark
        )
        assert refusal.buttons == []

        mark = telegram.mark()
        await telegram.send_text(group, admin, "/zoom")
        listing = await telegram.wait_for_message(
            group["id"], lambda m: "Asking Zoom" in (m.content or ""), after=mark
        )
        await telegram.wait_for(lambda: bool(listing.buttons))
        [(_label, data)] = listing.buttons

        query = await telegram.press(group, student, listing.message_id, data)
        answer = await telegram.wait_for_answer(query)
        assert answer["show_alert"] is True and "Only admins" in answer["text"]
        assert await rows(config.database_url, Recording) == []

        mark = telegram.mark()
        query = await telegram.press(group, admin, listing.message_id, data)
        assert (await telegram.wait_for_answer(query))["text"] == "Queued for processing."
        progress = await telegram.wait_for_message(group["id"], after=mark)
        await telegram.wait_for(lambda: "Received" in (progress.content or ""), timeout=30)

    [recording] = await rows(config.database_url, Recording)
    assert recording.source_name == "Linear Algebra 2"
    assert recording.created_by == admin["id"]


async def test_credentials_for_a_group_are_refused_once_the_sender_is_no_longer_its_admin(
    settings: Settings, telegram: FakeTelegram, zoom: FakeZoom
) -> None:
    config = zoom_settings(settings, zoom)
    async with running(config, telegram):
        group = telegram.group(-100908, "Geometry")
        admin = telegram.user(908, "Olga", language_code="en")
        telegram.set_admins(group["id"], [admin["id"]])
        mark = telegram.mark()
        await telegram.send_text(group, admin, "/zoom_connect")
        await telegram.wait_for_message(group["id"], after=mark)
        await telegram.chat_member_changed(group, admin, old="administrator", new="member")
        await wait_for_role(config, admin["id"], Role.MEMBER)

        chat = telegram.private_chat(admin)
        mark = telegram.mark()
        sent = await telegram.send_text(chat, admin, credentials_text(zoom))
        answer = await telegram.wait_for_message(admin["id"], after=mark)
        assert answer.content == (
            "You are not an admin of «Geometry», so I did not connect Zoom there."
        )
        assert (admin["id"], sent["message_id"]) in telegram.deleted_user_messages

    # Refused before Zoom was asked anything, and nothing was kept.
    assert zoom.token_grants == []
    assert await rows(config.database_url, Credential) == []
