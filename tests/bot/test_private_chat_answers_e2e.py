"""In a private chat an open prompt or a pending /zoom_connect takes only what answers it.

A pasted link is a new recording, a title is a title, and only text that looks like Zoom
credentials is taken (and deleted) as credentials.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from leap.settings import Settings
from storage.models import Credential, Recording, SourceKind
from tests.bot import chat_fixtures
from tests.bot.chat_fixtures import bot_only, button, reviewable, rows, seen
from tests.bot.test_zoom_e2e import credentials_text, zoom_settings
from tests.fakes.media_site import MediaSite
from tests.fakes.telegram import BotMessage, FakeTelegram
from tests.fakes.zoom import FakeZoom

lecture_video = chat_fixtures.lecture_video


@pytest.fixture
async def site(small_video: Path) -> AsyncIterator[MediaSite]:
    fake = MediaSite({"small.mp4": small_video})
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def zoom() -> AsyncIterator[FakeZoom]:
    async with FakeZoom() as server:
        yield server


@pytest.fixture
def config(settings: Settings, zoom: FakeZoom) -> Settings:
    """The bot may fetch from 127.0.0.1, where the test site lives, and knows the fake Zoom."""
    return zoom_settings(settings, zoom).model_copy(update={"allow_private_urls": True})


async def say(
    telegram: FakeTelegram, chat: dict[str, Any], user: dict[str, Any], text: str
) -> tuple[dict[str, Any], BotMessage]:
    """The person's message and the bot's next one in the chat."""
    mark = telegram.mark()
    sent = await telegram.send_text(chat, user, text)
    return sent, await telegram.wait_for_message(chat["id"], after=mark)


async def ask_for_title(
    telegram: FakeTelegram, chat: dict[str, Any], user: dict[str, Any]
) -> BotMessage:
    card = await telegram.wait_for_message(
        chat["id"], lambda m: "Ready for review" in seen(m), after=0
    )
    mark = telegram.mark()
    await telegram.press(chat, user, card.message_id, button(card, "Title"))
    await telegram.wait_for_message(chat["id"], lambda m: "new title" in seen(m), after=mark)
    return card


def title_of(folder: Path) -> str:
    return str(json.loads((folder / "metadata.json").read_text())["title"])


async def test_a_link_pasted_while_a_title_is_asked_for_is_a_new_recording(
    config: Settings, telegram: FakeTelegram, site: MediaSite, lecture_video: Path
) -> None:
    user = telegram.user(1201, "Ann", language_code="en")
    chat = telegram.private_chat(user)
    link = site.url("/media/small.mp4")
    async with bot_only(config):
        made = await reviewable(config, telegram, chat, user, lecture_video)
        card = await ask_for_title(telegram, chat, user)

        _sent, reply = await say(telegram, chat, user, link)
        await telegram.wait_for(lambda: "Waiting in the queue" in seen(reply), timeout=30)

        # The prompt still stands: the next plain text is the title.
        _sent, saved = await say(telegram, chat, user, "Signals and sampling")
        assert "Saved" in seen(saved)
        await telegram.wait_for(lambda: "Signals and sampling" in seen(card))

    recordings = await rows(config, Recording)
    assert [r.source_kind for r in recordings] == [SourceKind.TELEGRAM, SourceKind.LINK]
    assert recordings[1].source_ref == link
    assert title_of(made.folder) == "Signals and sampling"


async def test_after_zoom_connect_a_title_and_a_link_are_not_taken_for_credentials(
    config: Settings,
    telegram: FakeTelegram,
    site: MediaSite,
    zoom: FakeZoom,
    lecture_video: Path,
) -> None:
    user = telegram.user(1202, "Lena", language_code="en")
    chat = telegram.private_chat(user)
    async with bot_only(config):
        made = await reviewable(config, telegram, chat, user, lecture_video)
        _sent, prompt = await say(telegram, chat, user, "/zoom_connect")
        assert "Server-to-Server" in seen(prompt)
        await ask_for_title(telegram, chat, user)

        title, saved = await say(telegram, chat, user, "Linear Algebra Intro")
        assert "Saved" in seen(saved)
        link, reply = await say(telegram, chat, user, site.url("/media/small.mp4"))
        await telegram.wait_for(lambda: "Waiting in the queue" in seen(reply), timeout=30)

        # Something that looks like credentials is taken, deleted and explained once...
        partial, unreadable = await say(
            telegram, chat, user, f"Account ID: {zoom.account_id}\nClient ID: {zoom.client_id}"
        )
        assert "couldn't read three values" in seen(unreadable)
        # ...and then the wait is over: bare values are the person's own again.
        bare, ignored = await say(telegram, chat, user, "AbCdEf1234 GhIjKl5678 MnOpQr9012")
        assert "didn't understand" in seen(ignored)
        # Labelled ones still connect the personal workspace.
        full, status = await say(telegram, chat, user, credentials_text(zoom))
        await telegram.wait_for(lambda: "connected" in seen(status))

    assert title_of(made.folder) == "Linear Algebra Intro"
    kept = {(user["id"], sent["message_id"]) for sent in (title, link, bare)}
    assert not kept & telegram.deleted_user_messages
    gone = {(user["id"], sent["message_id"]) for sent in (partial, full)}
    assert gone <= telegram.deleted_user_messages
    assert zoom.token_grants == [zoom.account_id]
    assert len(await rows(config, Credential)) == 1
    assert len(await rows(config, Recording)) == 2


async def test_unreadable_credentials_for_a_group_say_how_to_start_again(
    config: Settings, telegram: FakeTelegram, zoom: FakeZoom
) -> None:
    group = telegram.group(-1001203, "Geometry")
    admin = telegram.user(1203, "Olga", language_code="ru")
    telegram.set_admins(group["id"], [admin["id"]])
    chat = telegram.private_chat(admin)
    async with bot_only(config):
        mark = telegram.mark()
        await telegram.send_text(group, admin, "/zoom_connect")
        await telegram.wait_for_message(group["id"], after=mark)
        sent, answer = await say(telegram, chat, admin, "AbCdEf1234 GhIjKl5678")

    assert seen(answer) == (
        "Не удалось прочитать три значения из сообщения (я его всё равно удалил). "
        "Отправьте /zoom_connect в «Geometry» ещё раз, а затем сюда три строки: "
        "Account ID, Client ID и Client Secret."
    )
    assert (admin["id"], sent["message_id"]) in telegram.deleted_user_messages
    assert zoom.token_grants == []
