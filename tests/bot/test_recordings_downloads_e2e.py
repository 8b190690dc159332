"""/recordings hands a recording's results out again: files as documents, and where it went."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import httpx
import pytest

from leap.settings import Settings
from tests.bot import chat_fixtures, test_card_outcome_e2e
from tests.bot.chat_fixtures import SRT, VTT, SlowFilesTelegram, button, reviewable, seen
from tests.bot.test_card_outcome_e2e import connect_youtube
from tests.conftest import RunningBot, running
from tests.fakes.google import FakeGoogle
from tests.fakes.telegram import BotMessage

lecture_video = chat_fixtures.lecture_video
telegram = chat_fixtures.slow_files_telegram
google = test_card_outcome_e2e.google
yt_settings = test_card_outcome_e2e.yt_settings


async def _open_downloads(
    telegram: SlowFilesTelegram, chat: dict[str, object], user: dict[str, object], label: str
) -> int:
    """/recordings, the recording, its Downloads button; returns the mark before the press."""
    chat_id = int(chat["id"])  # type: ignore[call-overload]
    mark = telegram.mark()
    await telegram.send_text(chat, user, "/recordings")
    listing = await telegram.wait_for_message(chat_id, lambda m: bool(m.buttons), after=mark)
    await telegram.press(chat, user, listing.message_id, button(listing, "signals"))
    await telegram.wait_for(lambda: label in str(listing.buttons))
    mark = telegram.mark()
    await telegram.press(chat, user, listing.message_id, button(listing, label))
    return mark


def _documents(telegram: SlowFilesTelegram, chat_id: int, after: int) -> dict[str, BotMessage]:
    return {
        m.document.file_name: m
        for m in telegram.sent(chat_id)
        if m.seq > after and m.document is not None
    }


async def test_downloads_send_every_result_and_list_the_published_links(
    yt_settings: Settings, telegram: SlowFilesTelegram, google: FakeGoogle, lecture_video: Path
) -> None:
    user = telegram.user(1601, "Ann", language_code="en")
    chat = telegram.private_chat(user)
    await connect_youtube(yt_settings, google, chat, user)
    async with running(yt_settings, telegram):
        await reviewable(yt_settings, telegram, chat, user, lecture_video)
        card = await telegram.wait_for_message(
            1601, lambda m: "Ready for review" in seen(m), after=0
        )
        await telegram.press(chat, user, card.message_id, button(card, "Publish"))
        await telegram.wait_for(lambda: bool(card.buttons) and "youtu.be" in seen(card), timeout=60)

        mark = await _open_downloads(telegram, chat, user, "📥 Downloads")
        header = await telegram.wait_for_message(
            1601, lambda m: "📥" in seen(m) and m.document is None, after=mark
        )
        await telegram.wait_for(lambda: len(_documents(telegram, 1601, mark)) == 5, timeout=30)

    [video] = google.videos.values()
    assert "Published" in seen(header)
    assert f"✅ YouTube: https://youtu.be/{video.id}" in seen(header)
    files = _documents(telegram, 1601, mark)
    assert sorted(files) == [
        "signals-lecture - chapters.txt",
        "signals-lecture - description.txt",
        "signals-lecture.srt",
        "signals-lecture.vtt",
        "signals-lecture.zip",
    ]
    assert files["signals-lecture.srt"].document.data.decode() == SRT  # type: ignore[union-attr]
    assert files["signals-lecture.vtt"].document.data.decode() == VTT  # type: ignore[union-attr]
    assert seen(files["signals-lecture.srt"]) == "💬 Subtitles (SRT)"
    chapters = files["signals-lecture - chapters.txt"].document.data.decode()  # type: ignore[union-attr]
    assert chapters.splitlines() == [
        "0:00 Introduction",
        "0:20 Sampling",
        "0:41 Aliasing",
        "1:02 Questions",
    ]
    description = files["signals-lecture - description.txt"].document.data.decode()  # type: ignore[union-attr]
    assert description.startswith("signals-lecture\n")
    assert "0:41 Aliasing" in description
    archive = zipfile.ZipFile(io.BytesIO(files["signals-lecture.zip"].document.data))  # type: ignore[union-attr]
    assert sorted(archive.namelist()) == [
        "description.txt",
        "metadata.json",
        "subtitles.srt",
        "subtitles.vtt",
        "video.mp4",
    ]
    assert archive.read("video.mp4") == lecture_video.read_bytes()


async def test_downloads_work_before_publishing_and_speak_russian(
    app: RunningBot, telegram: SlowFilesTelegram, lecture_video: Path
) -> None:
    user = telegram.user(1611, "Аня", language_code="ru")
    chat = telegram.private_chat(user)
    await reviewable(app.settings, telegram, chat, user, lecture_video, language="ru")
    await telegram.wait_for_message(1611, lambda m: "Готово к проверке" in seen(m), after=0)

    mark = await _open_downloads(telegram, chat, user, "📥 Файлы")
    header = await telegram.wait_for_message(
        1611, lambda m: "📥" in seen(m) and m.document is None, after=mark
    )
    assert "Пока нигде не опубликовано." in seen(header)
    await telegram.wait_for(lambda: len(_documents(telegram, 1611, mark)) == 5, timeout=30)
    files = _documents(telegram, 1611, mark)
    assert seen(files["signals-lecture.srt"]) == "💬 Субтитры (SRT)"
    assert seen(files["signals-lecture.vtt"]) == "💬 Субтитры (WebVTT)"
    assert seen(files["signals-lecture - chapters.txt"]) == "🧭 Главы"
    assert seen(files["signals-lecture - description.txt"]) == "📝 Описание"
    assert seen(files["signals-lecture.zip"]).startswith("📦 signals-lecture: видео")


@pytest.fixture
def small_uploads(settings: Settings) -> Settings:
    """A bot that may upload only 64 KB and has a public address for download links."""
    return settings.model_copy(
        update={
            "cloud_upload_limit_mb": 64 / 1024,
            "public_base_url": f"http://127.0.0.1:{settings.web_port}",
        }
    )


async def test_an_archive_over_the_upload_limit_comes_as_a_signed_link(
    small_uploads: Settings, telegram: SlowFilesTelegram, lecture_video: Path
) -> None:
    user = telegram.user(1621, "Ann", language_code="en")
    chat = telegram.private_chat(user)
    async with running(small_uploads, telegram):
        made = await reviewable(small_uploads, telegram, chat, user, lecture_video)
        await telegram.wait_for_message(1621, lambda m: "Ready for review" in seen(m), after=0)
        mark = await _open_downloads(telegram, chat, user, "📥 Downloads")
        offer = await telegram.wait_for_message(
            1621, lambda m: "more than a bot may send here" in seen(m), after=mark, timeout=30
        )
        [url] = [word for word in seen(offer).split() if word.startswith("http")]
        async with httpx.AsyncClient() as http:
            answer = await http.get(url)
        assert answer.status_code == 200
        forged = await httpx.AsyncClient().get(url[:-3] + "AAA")
        assert forged.status_code != 200

    assert answer.content == (made.folder / "export.zip").read_bytes()
    assert "video.mp4" in zipfile.ZipFile(io.BytesIO(answer.content)).namelist()
    # The small files still come as documents; only the archive is a link.
    assert sorted(_documents(telegram, 1621, mark)) == [
        "signals-lecture - chapters.txt",
        "signals-lecture - description.txt",
        "signals-lecture.srt",
        "signals-lecture.vtt",
    ]
