"""Sound without a picture: an .m4a file, a music message or a voice message is a lecture too.

Each goes through the whole pipeline to its review card, which offers only what can take sound
alone (a Telegram channel, the file); YouTube and VK are refused whichever button asks for them.
The checks made before anything is downloaded are those a video meets.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from jobs.cards import PlatformCb
from leap.settings import Settings
from pipeline import templates
from storage import repo
from storage.crypto import SecretBox
from storage.db import create_engine, session_maker
from storage.models import Publication, Recording, RecordingStatus, WorkspaceKind
from storage.models import Template as TemplateRow
from tests import synth
from tests.bot.chat_fixtures import bot_only, button, rows, seen
from tests.bot.conftest import CLOSING, OPENING
from tests.conftest import RunningBot, running
from tests.fakes.telegram import BotMessage, FakeTelegram
from tests.synth import Silence, Speech

MB = 1024 * 1024


@dataclass(frozen=True)
class Sounds:
    m4a: Path
    mp3: Path
    ogg: Path


@pytest.fixture(scope="module")
def sounds(tmp_path_factory: pytest.TempPathFactory) -> Sounds:
    """One short talk with empty room around it, as a phone saves it, as music, as a voice."""
    folder = tmp_path_factory.mktemp("audio-intake")
    parts = (Silence(3.0), Speech(OPENING), Silence(1.0), Speech(CLOSING), Silence(3.0))
    return Sounds(
        m4a=synth.make_lecture(folder / "talk.m4a", parts, video=False).path,
        mp3=synth.make_lecture(folder / "talk.mp3", parts, video=False, acodec="mp3").path,
        ogg=synth.make_lecture(folder / "talk.ogg", parts, video=False, acodec="opus").path,
    )


async def connect_picture_platforms(settings: Settings, chat: dict[str, Any]) -> None:
    """YouTube and VK connected to the chat's workspace, so only the rule can keep them off."""
    assert settings.secret_key is not None
    box = SecretBox(settings.secret_key.get_secret_value())
    engine = create_engine(settings.database_url)
    try:
        async with session_maker(engine)() as session:
            workspace, _created = await repo.ensure_workspace(
                session, chat["id"], WorkspaceKind.PERSONAL, chat.get("first_name") or ""
            )
            for provider in ("youtube", "vk"):
                await repo.store_credential(
                    session,
                    workspace.id,
                    box,
                    provider=provider,
                    account_name="Lecture Hall",
                    payload={"access_token": "unused", "group_id": 42},
                )
            await session.commit()
    finally:
        await engine.dispose()


async def send(kind: str, telegram: FakeTelegram, sounds: Sounds, chat: Any, user: Any) -> None:
    if kind == "m4a_document":
        await telegram.send_document(
            chat, user, sounds.m4a, file_name="signals talk.m4a", mime_type="audio/mp4"
        )
    elif kind == "audio_message":
        await telegram.send_audio(chat, user, sounds.mp3, file_name="signals talk.mp3", duration=15)
    else:
        await telegram.send_voice(chat, user, sounds.ogg, duration=15)


KINDS = {"m4a_document": 2301, "audio_message": 2302, "voice_message": 2303}


@pytest.mark.parametrize("kind", list(KINDS))
async def test_sound_reaches_its_review_card_which_offers_no_youtube_or_vk(
    app: RunningBot, telegram: FakeTelegram, sounds: Sounds, kind: str
) -> None:
    user_id = KINDS[kind]
    user = telegram.user(user_id, "Ann", language_code="en")
    chat = telegram.private_chat(user)
    await connect_picture_platforms(app.settings, chat)

    await send(kind, telegram, sounds, chat, user)
    progress = await telegram.wait_for_message(user_id, after=0)
    card = await telegram.wait_for_message(
        user_id, lambda m: "Ready for review" in seen(m), after=0, timeout=120
    )
    assert "audio only" in seen(progress), seen(progress)
    [recording] = await rows(app.settings, Recording)
    assert recording.status is RecordingStatus.AWAITING_REVIEW
    assert recording.media["source"]["has_video"] is False
    if kind == "voice_message":
        assert recording.source_name.startswith("voice-")
        assert recording.source_ext == "ogg"
    else:
        assert recording.source_name.startswith("signals talk.")

    labels = [label for label, _data in card.buttons]
    assert any("File" in label for label in labels), labels
    assert not any("YouTube" in label or "VK" in label for label in labels), labels
    assert "Sound only" in seen(card)
    assert "Publish to: File" in seen(card)

    # A forged toggle for YouTube is refused in words, and changes nothing.
    forged = PlatformCb(rec=recording.id, p="youtube").pack()
    query = await telegram.press(chat, user, card.message_id, forged, force=True)
    answer = await telegram.wait_for_answer(query)
    assert answer["show_alert"] is True
    assert "sound only" in answer["text"] and "YouTube" in answer["text"]

    await telegram.press(chat, user, card.message_id, button(card, "Publish"))
    await telegram.wait_for_message(
        user_id,
        lambda m: m.document is not None and m.document.file_name.endswith(".zip"),
        after=0,
        timeout=30,
    )
    publications = await rows(app.settings, Publication)
    assert [p.platform for p in publications] == ["export"]


async def add_template(settings: Settings, chat: dict[str, Any], **body: Any) -> None:
    engine = create_engine(settings.database_url)
    try:
        async with session_maker(engine)() as session:
            workspace = await repo.workspace_by_chat(session, chat["id"])
            assert workspace is not None
            clean = templates.Template.model_validate(body).model_dump(mode="json")
            session.add(TemplateRow(workspace_id=workspace.id, name=clean["name"], body=clean))
            await session.commit()
    finally:
        await engine.dispose()


async def test_a_template_publishing_to_youtube_by_itself_holds_a_voice_message(
    app: RunningBot, telegram: FakeTelegram, sounds: Sounds
) -> None:
    user = telegram.user(2304, "Ann", language_code="en")
    chat = telegram.private_chat(user)
    await connect_picture_platforms(app.settings, chat)
    await add_template(
        app.settings, chat, name="Lectures", platforms=["youtube"], auto_publish=True
    )

    await telegram.send_voice(chat, user, sounds.ogg, duration=15)
    card = await telegram.wait_for_message(
        2304, lambda m: "Ready for review" in seen(m), after=0, timeout=120
    )
    assert "Not published by itself: it was set to go to YouTube" in seen(card)
    assert "Publish to: File" in seen(card)
    [recording] = await rows(app.settings, Recording)
    assert recording.status is RecordingStatus.AWAITING_REVIEW
    assert recording.media["compose"]["template"] == "Lectures"
    assert await rows(app.settings, Publication) == []


@dataclass(frozen=True)
class Refusal:
    kind: str
    duration: int
    file_size: int | None
    says: str


REFUSALS = {
    "six_hour_audio_message": Refusal("audio", 6 * 3600, None, "the most I accept is 5:00:00"),
    "huge_voice": Refusal("voice", 60, 30 * MB, "Telegram lets bots download at most 20 MB"),
    "huge_m4a": Refusal("document", 0, 30 * MB, "Telegram lets bots download at most 20 MB"),
    "over_the_minutes": Refusal("voice", 3 * 3600, None, "processing time would be exceeded"),
}


@pytest.mark.parametrize("name", list(REFUSALS))
async def test_sound_meets_the_same_checks_as_video_before_anything_is_made(
    settings: Settings, telegram: FakeTelegram, sounds: Sounds, name: str
) -> None:
    case = REFUSALS[name]
    tight = settings.model_copy(update={"quota_minutes": 60})
    async with running(tight, telegram):
        user = telegram.user(2311, "Ann", language_code="en")
        chat = telegram.private_chat(user)
        if case.kind == "audio":
            await telegram.send_audio(
                chat, user, sounds.mp3, file_name="marathon.mp3", duration=case.duration
            )
        elif case.kind == "voice":
            await telegram.send_voice(
                chat, user, sounds.ogg, duration=case.duration, file_size=case.file_size
            )
        else:
            await telegram.send_document(
                chat,
                user,
                sounds.m4a,
                file_name="talk.m4a",
                mime_type="audio/mp4",
                file_size=case.file_size,
            )
        reply: BotMessage = await telegram.wait_for_message(2311, after=0)
        assert case.says in seen(reply), seen(reply)
        assert await rows(tight, Recording) == []


async def test_a_burst_of_voice_messages_is_counted_one_at_a_time(
    settings: Settings,
    telegram: FakeTelegram,
    sounds: Sounds,
    caplog: pytest.LogCaptureFixture,
) -> None:
    three = settings.model_copy(update={"quota_concurrent": 3})
    async with bot_only(three):  # no workers: whatever is accepted stays in progress
        user = telegram.user(2331, "Ann", language_code="en")
        chat = telegram.private_chat(user)
        # Sent together, they are handled side by side; each check must see the ones before.
        for _n in range(6):
            await telegram.send_voice(chat, user, sounds.ogg, duration=15)
        await telegram.wait_for(lambda: len(telegram.sent(chat["id"])) == 6, timeout=30)
    texts = [seen(m) for m in telegram.sent(chat["id"])]
    assert sum("Waiting in the queue" in t for t in texts) == 3, texts
    assert sum("Not accepted right now" in t for t in texts) == 3, texts
    assert len(await rows(three, Recording)) == 3
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_a_file_that_is_neither_video_nor_sound_is_refused(
    app: RunningBot, telegram: FakeTelegram
) -> None:
    user = telegram.user(2321, "Ann", language_code="ru")
    chat = telegram.private_chat(user)
    await telegram.send_document(
        chat, user, b"just words", file_name="notes.txt", mime_type="text/plain"
    )
    reply = await telegram.wait_for_message(2321, after=0)
    assert "ни на видео, ни на аудиозапись" in seen(reply)
    assert "notes.txt" in seen(reply)
    assert await rows(app.settings, Recording) == []


async def test_in_a_group_a_short_voice_message_is_talk_and_a_long_one_a_lecture(
    app: RunningBot, telegram: FakeTelegram, sounds: Sounds
) -> None:
    group = telegram.group(-100231, "Signals")
    teacher = telegram.user(2311, "Tom", language_code="en")
    telegram.set_admins(group["id"], [], creator=teacher["id"])

    await telegram.send_voice(group, teacher, sounds.ogg, duration=15)
    await telegram.send_text(group, teacher, "/help")
    await telegram.wait_for(lambda: telegram.sent(group["id"]), timeout=30)
    # Only /help was answered: the voice message before it was conversation.
    assert [m for m in telegram.sent(group["id"]) if "voice-" in seen(m)] == []
    assert await rows(app.settings, Recording) == []

    await telegram.send_voice(group, teacher, sounds.ogg, duration=20 * 60)
    await telegram.wait_for_message(group["id"], lambda m: "voice-" in seen(m), after=0)
    [recording] = await rows(app.settings, Recording)
    assert recording.source_name.startswith("voice-")
