"""A person talking to the running bot (polling, web server and workers) through the Bot API."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
import sqlalchemy as sa

from leap.app import serve
from storage.db import create_engine
from storage.files import MediaStore
from storage.models import Member, Recording, RecordingStatus, Role, StageRun, StageStatus
from tests.conftest import TOKEN, RunningBot, running
from tests.fakes.telegram import FakeTelegram


async def _rows(url: str, model: type) -> list:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(sa.select(model))).all())
    finally:
        await engine.dispose()


async def wait_for_rest(url: str, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    """The only recording once no worker owes it anything more."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        rows = await _rows(url, Recording)
        if rows and RecordingStatus(rows[0].status).is_terminal:
            assert rows[0].status != RecordingStatus.FAILED, rows[0].failure_reason
            return rows[0]
        assert loop.time() < deadline, rows
        await asyncio.sleep(0.1)


async def test_start_speaks_the_users_language(app: RunningBot, telegram: FakeTelegram) -> None:
    anna = telegram.user(101, "Анна", language_code="ru")
    john = telegram.user(102, "John", language_code="en-GB")
    await telegram.send_text(telegram.private_chat(anna), anna, "/start")
    await telegram.send_text(telegram.private_chat(john), john, "/start")

    ru = await telegram.wait_for_message(101, after=0)
    en = await telegram.wait_for_message(102, after=0)
    assert "Здравствуйте, Анна" in ru.content
    assert "Hi, John" in en.content
    # What the bot does today: links, transcription in many languages, the card, publishing.
    for words in ("Yandex Disk", "transcribe", "card", "YouTube, VK or a Telegram channel"):
        assert words in en.content, words
    assert "/connect" in en.content and "/settings" in en.content
    for words in ("Яндекс Диск", "расшифрую", "карточку", "YouTube, во VK или в Telegram-канал"):
        assert words in ru.content, words


async def test_language_command_switches_the_conversation(
    app: RunningBot, telegram: FakeTelegram
) -> None:
    user = telegram.user(103, "Kate", language_code="en")
    chat = telegram.private_chat(user)
    await telegram.send_text(chat, user, "/language")
    prompt = await telegram.wait_for_message(103, after=0)
    assert "Choose the language" in prompt.content
    russian = next(data for text, data in prompt.buttons if "Русский" in text)

    await telegram.press(chat, user, prompt.message_id, russian)
    await telegram.wait_for(lambda: "Язык: русский" in (prompt.content or ""))

    mark = telegram.mark()
    await telegram.send_text(chat, user, "/help")
    help_text = await telegram.wait_for_message(103, after=mark)
    assert "Что я делаю" in help_text.content
    # Every command people may type is named there, the newer ones too.
    for command in ("/find", "/terms", "Яндекс Диск", "часовой пояс"):
        assert command in help_text.content, command


async def test_language_takes_its_argument(app: RunningBot, telegram: FakeTelegram) -> None:
    user = telegram.user(104, "Kate", language_code="ru")
    chat = telegram.private_chat(user)
    mark = telegram.mark()
    await telegram.send_text(chat, user, "/language en")
    answer = await telegram.wait_for_message(104, after=mark)
    assert answer.content == "Language: English."
    mark = telegram.mark()
    await telegram.send_text(chat, user, "/help")
    assert "What I do" in (await telegram.wait_for_message(104, after=mark)).content

    # A language the bot does not speak gets the buttons and says which it knows.
    mark = telegram.mark()
    await telegram.send_text(chat, user, "/language de")
    prompt = await telegram.wait_for_message(104, after=mark)
    assert "I don't know the language «de»" in prompt.content
    assert [label for label, _ in prompt.buttons] == ["✓ English", "Русский"]

    mark = telegram.mark()
    await telegram.send_text(chat, user, "/language RU")
    assert (await telegram.wait_for_message(104, after=mark)).content == "Язык: русский."


async def test_a_groups_language_by_argument_is_the_admins_choice(
    app: RunningBot, telegram: FakeTelegram
) -> None:
    group = telegram.group(-100777, "Linguistics")
    owner = telegram.user(121, "Olga", language_code="ru")
    student = telegram.user(122, "Sam", language_code="en")
    telegram.set_admins(group["id"], [], creator=owner["id"])
    await telegram.add_bot_to_group(group, owner)
    await telegram.wait_for_message(group["id"], after=0)

    mark = telegram.mark()
    await telegram.send_text(group, student, "/language en")
    refusal = await telegram.wait_for_message(group["id"], after=mark)
    assert "admin" in refusal.content or "администратор" in refusal.content

    mark = telegram.mark()
    await telegram.send_text(group, owner, "/language en")
    assert (await telegram.wait_for_message(group["id"], after=mark)).content == (
        "Language: English."
    )
    mark = telegram.mark()
    await telegram.send_text(group, student, "/help")
    assert "What I do" in (await telegram.wait_for_message(group["id"], after=mark)).content


async def test_commands_are_registered_in_both_languages(
    app: RunningBot, telegram: FakeTelegram
) -> None:
    names = [c["command"] for c in telegram.my_commands()]
    assert names[:3] == ["start", "help", "language"]
    assert telegram.my_commands(language_code="ru")[1]["description"] == "Что умеет бот"


async def test_video_document_is_received_and_probed(
    app: RunningBot, telegram: FakeTelegram, small_video: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    user = telegram.user(104, "Lena", language_code="en")
    chat = telegram.private_chat(user)
    await telegram.send_document(
        chat, user, small_video, file_name="lecture 1.mp4", mime_type="video/mp4"
    )

    progress = await telegram.wait_for_message(104, after=0)
    assert "lecture 1.mp4" in progress.content
    final = await telegram.wait_for(
        lambda: "Received" in (progress.content or "") and progress.content
    )
    assert "Received: 0:08, 320×240" in final
    assert "KB" in final or "MB" in final
    # One message, edited: never a new message per update.
    assert [m.message_id for m in telegram.sent(104)] == [progress.message_id]
    assert any("Downloading" in (t or "") for t in progress.texts)

    recording = await wait_for_rest(app.settings.database_url)
    assert recording.stage is None
    stored = MediaStore(app.settings.storage_dir).recording_dir(
        recording.workspace_id, recording.id, create=False
    )
    assert (stored / "source.mp4").read_bytes() == small_video.read_bytes()
    runs = await _rows(app.settings.database_url, StageRun)
    assert [(r.stage, r.status) for r in runs][:2] == [
        ("fetch", StageStatus.DONE.value),
        ("trim", StageStatus.DONE.value),
    ]
    assert (stored / "video.mp4").is_file()
    # The download URL carries the bot token; no log line may.
    assert caplog.records and TOKEN not in caplog.text


async def test_video_message_in_russian(
    app: RunningBot, telegram: FakeTelegram, small_video: Path
) -> None:
    user = telegram.user(105, "Олег", language_code="ru")
    chat = telegram.private_chat(user)
    await telegram.send_video(chat, user, small_video, file_name="lecture.mp4", duration=8)
    progress = await telegram.wait_for_message(105, after=0)
    await telegram.wait_for(lambda: "Получено" in (progress.content or ""))
    assert "Получено: 0:08, 320×240" in progress.content


async def test_pdf_is_refused_clearly(app: RunningBot, telegram: FakeTelegram) -> None:
    user = telegram.user(106, "Max", language_code="en")
    chat = telegram.private_chat(user)
    await telegram.send_document(
        chat, user, b"%PDF-1.4 slides", file_name="slides.pdf", mime_type="application/pdf"
    )
    reply = await telegram.wait_for_message(106, after=0)
    assert "doesn't look like a video" in reply.content
    assert "slides.pdf" in reply.content
    assert await _rows(app.settings.database_url, Recording) == []


async def test_pdf_named_mp4_fails_with_a_reason(app: RunningBot, telegram: FakeTelegram) -> None:
    user = telegram.user(107, "Max", language_code="en")
    chat = telegram.private_chat(user)
    await telegram.send_document(
        chat, user, b"%PDF-1.4\n" + b"x" * 5000, file_name="lecture.mp4", mime_type="video/mp4"
    )
    progress = await telegram.wait_for_message(107, after=0)
    await telegram.wait_for(lambda: "❌" in (progress.content or ""))
    assert "not a video I can read" in progress.content
    recording = (await _rows(app.settings.database_url, Recording))[0]
    assert recording.status == RecordingStatus.FAILED.value
    assert recording.failure_code == "not_media"
    # The source is kept for a retry or an inspection.
    source = (
        MediaStore(app.settings.storage_dir).recording_dir(
            recording.workspace_id, recording.id, create=False
        )
        / "source.mp4"
    )
    assert source.exists()


async def test_big_file_in_cloud_mode_is_explained(
    app: RunningBot, telegram: FakeTelegram, big_video: Path
) -> None:
    user = telegram.user(108, "Ivan", language_code="en")
    chat = telegram.private_chat(user)
    await telegram.send_document(chat, user, big_video, file_name="big.mp4", mime_type="video/mp4")
    reply = await telegram.wait_for_message(108, after=0)
    assert "at most 20 MB" in reply.content
    # What works instead: a link, or the local Bot API server.
    assert "send a link to the recording instead" in reply.content
    assert "Yandex Disk" in reply.content and "Google Drive" in reply.content
    assert "local Bot API server" in reply.content
    assert await _rows(app.settings.database_url, Recording) == []

    ivan = telegram.user(110, "Иван", language_code="ru")
    await telegram.send_document(
        telegram.private_chat(ivan), ivan, big_video, file_name="big.mp4", mime_type="video/mp4"
    )
    reply = await telegram.wait_for_message(110, after=0)
    assert "не больше 20 МБ" in reply.content
    assert "пришлите ссылку на запись" in reply.content and "Яндекс Диск" in reply.content
    assert "локальный сервер Bot API" in reply.content


async def test_big_file_in_local_mode_is_accepted(
    settings, telegram: FakeTelegram, big_video: Path
) -> None:
    telegram.local_mode = True
    local = settings.model_copy(update={"telegram_api_local": True})
    async with running(local, telegram):
        user = telegram.user(109, "Ivan", language_code="en")
        chat = telegram.private_chat(user)
        await telegram.send_document(
            chat, user, big_video, file_name="big.mp4", mime_type="video/mp4"
        )
        progress = await telegram.wait_for_message(109, after=0)
        await telegram.wait_for(lambda: "Received" in (progress.content or ""), timeout=30)
        assert "640×360" in progress.content
        assert "MB" in progress.content


async def test_group_admins_and_members(app: RunningBot, telegram: FakeTelegram) -> None:
    group = telegram.group(-100500, "Physics 101")
    owner = telegram.user(201, "Olga", language_code="en")
    admin = telegram.user(202, "Adam", language_code="en")
    student = telegram.user(203, "Sam", language_code="en")
    telegram.set_admins(group["id"], [admin["id"]], creator=owner["id"])

    await telegram.add_bot_to_group(group, owner)
    welcome = await telegram.wait_for_message(group["id"], after=0)
    assert "team workspace" in welcome.content

    await telegram.send_text(group, student, "/start")
    await telegram.send_text(group, admin, "/start")
    await telegram.wait_for(lambda: len(telegram.sent(group["id"])) >= 3)
    assert all("team workspace" in m.content for m in telegram.sent(group["id"]))

    members = {m.user_id: m.role for m in await _rows(app.settings.database_url, Member)}
    assert members[owner["id"]] in (Role.OWNER.value, Role.ADMIN.value)
    assert members[admin["id"]] == Role.ADMIN.value
    assert members[student["id"]] == Role.MEMBER.value


async def test_group_chatter_is_ignored_but_a_reply_is_answered(
    app: RunningBot, telegram: FakeTelegram
) -> None:
    group = telegram.group(-100600, "Chemistry")
    user = telegram.user(204, "Nina", language_code="en")
    await telegram.send_text(group, user, "see you tomorrow")
    await telegram.send_text(group, user, "/start")
    greeting = await telegram.wait_for_message(group["id"], after=0)
    await telegram.send_text(group, user, "what?", reply_to=greeting.message_id)
    reply = await telegram.wait_for_message(group["id"], lambda m: "didn't understand" in m.content)
    assert reply.reply_to_message_id is not None
    assert len(telegram.sent(group["id"])) == 2


async def test_unknown_text_in_private_gets_a_hint(app: RunningBot, telegram: FakeTelegram) -> None:
    user = telegram.user(205, "Rita", language_code="en")
    await telegram.send_text(telegram.private_chat(user), user, "hello there")
    reply = await telegram.wait_for_message(205, after=0)
    assert "didn't understand" in reply.content


async def test_flood_is_answered_politely_once(settings, telegram: FakeTelegram) -> None:
    strict = settings.model_copy(update={"throttle_rate": 0.2, "throttle_burst": 3})
    async with running(strict, telegram):
        flooder = telegram.user(206, "Fast", language_code="en")
        calm = telegram.user(207, "Calm", language_code="en")
        chat = telegram.private_chat(flooder)
        for i in range(12):
            await telegram.send_text(chat, flooder, f"message {i}")
        await telegram.send_text(telegram.private_chat(calm), calm, "/start")
        await telegram.wait_for(lambda: len(telegram.sent(207)) == 1)
        await telegram.wait_for(
            lambda: any("faster than I can read" in m.content for m in telegram.sent(206))
        )
        await asyncio.sleep(0.5)
        answers = [m.content for m in telegram.sent(206)]
        assert len(answers) == 4  # three answered within the burst, one polite notice
        assert sum("faster than I can read" in a for a in answers) == 1


async def test_serve_stops_cleanly_without_the_bot(settings) -> None:
    stop = asyncio.Event()
    ready = asyncio.Event()
    # A worker lowers the priority of the process it runs in: here that is the test run.
    settings = settings.model_copy(update={"worker_nice": 0})
    task = asyncio.create_task(serve(settings, bot=False, queues=("io",), stop=stop, ready=ready))
    await asyncio.wait_for(ready.wait(), 20)
    stop.set()
    await asyncio.wait_for(task, 20)
