"""The review card after Publish: live lines per platform, then each outcome and what is left to do.

The card is in the recording's language whoever presses; what only the presser reads (an
alert, a question put to them) is in the presser's language.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from leap.settings import Settings
from storage import repo
from storage.crypto import SecretBox
from storage.db import create_engine, session_maker
from storage.models import Publication, PublicationStatus, Recording, RecordingStatus, WorkspaceKind
from tests.bot import chat_fixtures
from tests.bot.chat_fixtures import SlowFilesTelegram, button, recording_row, reviewable, rows, seen
from tests.conftest import RunningBot, running
from tests.fakes.google import FakeGoogle
from tests.fakes.telegram import BotMessage

lecture_video = chat_fixtures.lecture_video
telegram = chat_fixtures.slow_files_telegram

CYRILLIC = re.compile(r"[а-яА-ЯёЁ]")

WORDS = {
    "en": {
        "card": "Ready for review",
        "publish": "🚀 Publish",
        "publishing": "🚀 Publishing…",
        "waiting": "⏳ Archive: waiting",
        "published": "✅ Published.",
        "failed": "❌ Failed.",
        "file": "✅ Archive: the archive is in the chat above",
        "again": "🚀 Publish again",
        "delete": "🗑 Delete",
        "again_alert": "🚀 Publishing again to: ",
        "sure": "🗑 Yes, delete",
        "deleted": "is deleted",
        "refused": "YouTube refused the video: The title is not valid.",
        "file_toggle": "File",
    },
    "ru": {
        "card": "Готово к проверке",
        "publish": "🚀 Опубликовать",
        "publishing": "🚀 Публикую…",
        "waiting": "⏳ Архив: в очереди",
        "published": "✅ Опубликовано.",
        "failed": "❌ Ошибка.",
        "file": "✅ Архив: архив — в чате выше",
        "again": "🚀 Опубликовать снова",
        "delete": "🗑 Удалить",
        "again_alert": "🚀 Публикую снова: ",
        "sure": "🗑 Да, удалить",
        "deleted": "удалена",
        "refused": "YouTube не принял видео: The title is not valid.",
        "file_toggle": "Файл",
    },
}


async def _card(telegram: SlowFilesTelegram, chat_id: int, marker: str) -> BotMessage:
    return await telegram.wait_for_message(chat_id, lambda m: marker in seen(m), after=0)


def _labels(message: BotMessage) -> list[str]:
    return [label for label, _ in message.buttons]


def _zips(telegram: SlowFilesTelegram, chat_id: int) -> list[BotMessage]:
    return [
        m
        for m in telegram.sent(chat_id)
        if m.document is not None and m.document.file_name.endswith(".zip")
    ]


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_after_publish_to_file_the_card_ends_with_the_outcome_and_what_is_left_to_do(
    app: RunningBot, telegram: SlowFilesTelegram, lecture_video: Path, lang: str
) -> None:
    words = WORDS[lang]
    base = 1501 if lang == "en" else 1511
    user = telegram.user(base, "Ann", language_code=lang)
    chat = telegram.private_chat(user)
    made = await reviewable(app.settings, telegram, chat, user, lecture_video, language=lang)
    card = await _card(telegram, base, words["card"])

    query = await telegram.press(chat, user, card.message_id, button(card, words["publish"]))
    await telegram.wait_for_answer(query)
    await telegram.wait_for(lambda: words["file"] in seen(card), timeout=30)
    assert words["published"] in seen(card)
    assert _labels(card) == [words["again"], words["delete"]]
    # On the way there the card said where each platform stood, never a frozen "Publishing".
    shown = [re.sub(r"<[^>]*>", "", t or "") for t in card.texts]
    assert any(words["publishing"] in t and words["waiting"] in t for t in shown), shown
    assert len(_zips(telegram, base)) == 1

    # Publish again makes a fresh archive, and the card ends once more with its buttons.
    query = await telegram.press(chat, user, card.message_id, button(card, words["again"]))
    answer = await telegram.wait_for_answer(query)
    assert answer["text"].startswith(words["again_alert"])
    await telegram.wait_for(lambda: len(_zips(telegram, base)) == 2, timeout=30)
    await telegram.wait_for(lambda: _labels(card) == [words["again"], words["delete"]])
    assert words["file"] in seen(card)
    [publication] = await rows(app.settings, Publication, recording_id=made.recording_id)
    assert publication.status == PublicationStatus.DONE
    assert (await recording_row(app.settings, made.recording_id)).status == RecordingStatus.READY

    # Delete asks first, in a reply; yes removes the recording and says so on the card.
    mark = telegram.mark()
    await telegram.press(chat, user, card.message_id, button(card, words["delete"]))
    question = await telegram.wait_for_message(base, lambda m: bool(m.buttons), after=mark)
    assert question.reply_to_message_id == card.message_id
    await telegram.press(chat, user, question.message_id, button(question, words["sure"]))
    await telegram.wait_for(lambda: words["deleted"] in seen(card))
    assert card.buttons == []
    assert not made.folder.exists()
    assert await rows(app.settings, Recording) == []


@pytest.fixture
async def google() -> AsyncIterator[FakeGoogle]:
    async with FakeGoogle() as fake:
        yield fake


@pytest.fixture
def yt_settings(settings: Settings, google: FakeGoogle) -> Settings:
    return settings.model_copy(
        update={
            "youtube_client_id": google.client_id,
            "youtube_client_secret": SecretStr(google.client_secret),
            "google_auth_url": google.auth_url,
            "google_token_url": google.token_url,
            "youtube_api_url": google.api_url,
            "publish_retry_delay": 0.02,
        }
    )


async def connect_youtube(
    settings: Settings, google: FakeGoogle, chat: dict[str, Any], user: dict[str, Any]
) -> None:
    """A connected YouTube channel, stored as the /connect flow stores it (encrypted)."""
    assert settings.secret_key is not None
    box = SecretBox(settings.secret_key.get_secret_value())
    tokens = google.issue_tokens()
    expires = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    engine = create_engine(settings.database_url)
    try:
        async with session_maker(engine)() as session:
            kind = WorkspaceKind.PERSONAL if chat["type"] == "private" else WorkspaceKind.GROUP
            workspace, _ = await repo.ensure_workspace(session, chat["id"], kind, "Ann")
            await repo.store_credential(
                session,
                workspace.id,
                box,
                provider="youtube",
                account_name="Lecture Hall",
                payload={**tokens, "expires_at": expires},
                created_by=user["id"],
            )
            await session.commit()
    finally:
        await engine.dispose()


async def test_the_card_shows_the_youtube_link_once_published(
    yt_settings: Settings, telegram: SlowFilesTelegram, google: FakeGoogle, lecture_video: Path
) -> None:
    words = WORDS["en"]
    user = telegram.user(1521, "Ann", language_code="en")
    chat = telegram.private_chat(user)
    await connect_youtube(yt_settings, google, chat, user)
    async with running(yt_settings, telegram):
        await reviewable(yt_settings, telegram, chat, user, lecture_video)
        card = await _card(telegram, 1521, words["card"])
        assert "✅ YouTube" in str(card.buttons)
        await telegram.press(chat, user, card.message_id, button(card, words["publish"]))
        await telegram.wait_for(lambda: bool(card.buttons) and "youtu.be" in seen(card), timeout=60)

    [video] = google.videos.values()
    assert f"✅ YouTube: https://youtu.be/{video.id}" in seen(card)
    assert words["file"] in seen(card)
    assert words["published"] in seen(card)
    # A video on YouTube is never posted twice: Publish again stays for the file alone.
    assert _labels(card) == [words["again"], words["delete"]]


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_a_failed_platform_shows_its_reason_and_publish_again_publishes_it(
    yt_settings: Settings,
    telegram: SlowFilesTelegram,
    google: FakeGoogle,
    lecture_video: Path,
    lang: str,
) -> None:
    words = WORDS[lang]
    base = 1531 if lang == "en" else 1541
    user = telegram.user(base, "Ann", language_code=lang)
    chat = telegram.private_chat(user)
    await connect_youtube(yt_settings, google, chat, user)
    google.fail("videos.insert", 400, reason="invalidTitle", message="The title is not valid.")
    async with running(yt_settings, telegram):
        made = await reviewable(yt_settings, telegram, chat, user, lecture_video, language=lang)
        card = await _card(telegram, base, words["card"])
        # YouTube alone: the file is unticked.
        await telegram.press(chat, user, card.message_id, button(card, words["file_toggle"]))
        await telegram.wait_for(lambda: f"▫️ {words['file_toggle']}" in str(card.buttons))
        await telegram.press(chat, user, card.message_id, button(card, words["publish"]))
        await telegram.wait_for(lambda: words["failed"] in seen(card), timeout=60)
        assert words["refused"] in seen(card)
        assert _labels(card) == [words["again"], words["delete"]]
        assert (await recording_row(yt_settings, made.recording_id)).status == (
            RecordingStatus.FAILED
        )

        query = await telegram.press(chat, user, card.message_id, button(card, words["again"]))
        answer = await telegram.wait_for_answer(query)
        assert answer["text"] == words["again_alert"] + "YouTube"
        await telegram.wait_for(lambda: "youtu.be" in seen(card), timeout=60)
        await telegram.wait_for(lambda: bool(card.buttons))

    [video] = google.videos.values()
    assert f"✅ YouTube: https://youtu.be/{video.id}" in seen(card)
    assert words["published"] in seen(card)
    assert words["refused"] not in seen(card)
    # Nothing is left to publish again: only Delete remains.
    assert _labels(card) == [words["delete"]]


async def test_in_a_group_the_card_keeps_its_language_and_alerts_speak_the_pressers(
    app: RunningBot, telegram: SlowFilesTelegram, lecture_video: Path
) -> None:
    group = telegram.group(-1001551, "Signals course")
    owner = telegram.user(1551, "Olga", language_code="en")
    ivan = telegram.user(1552, "Ivan", language_code="ru")
    masha = telegram.user(1553, "Masha", language_code="ru")
    telegram.set_admins(group["id"], [ivan["id"]], creator=owner["id"])
    await reviewable(app.settings, telegram, group, owner, lecture_video, language="en")
    card = await _card(telegram, group["id"], "Ready for review")

    refused = await telegram.press(group, masha, card.message_id, button(card, "Publish"))
    answer = await telegram.wait_for_answer(refused)
    assert answer["show_alert"] is True
    assert "только администраторы" in answer["text"]

    accepted = await telegram.press(group, ivan, card.message_id, button(card, "Publish"))
    answer = await telegram.wait_for_answer(accepted)
    assert answer["text"] == "🚀 Публикую: Файл"
    await telegram.wait_for(lambda: "the archive is in the chat above" in seen(card), timeout=30)
    assert _labels(card) == ["🚀 Publish again", "🗑 Delete"]
    for text in card.texts:
        assert not CYRILLIC.search(text or ""), text

    refused = await telegram.press(group, masha, card.message_id, button(card, "Publish again"))
    answer = await telegram.wait_for_answer(refused)
    assert answer["show_alert"] is True
    assert "только администраторы" in answer["text"]

    # The question goes to the admin who asked, in his language; keeping it changes nothing.
    mark = telegram.mark()
    await telegram.press(group, ivan, card.message_id, button(card, "Delete"))
    question = await telegram.wait_for_message(group["id"], lambda m: bool(m.buttons), after=mark)
    assert "Удалить «" in seen(question)
    await telegram.press(group, ivan, question.message_id, button(question, "Оставить"))
    await telegram.wait_for(lambda: question.buttons == [])
    assert "Оставлено" in seen(question)
    assert _labels(card) == ["🚀 Publish again", "🗑 Delete"]
    for text in card.texts:
        assert not CYRILLIC.search(text or ""), text
