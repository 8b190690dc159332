"""The progress message: every stage with its mark, a bar and times, paced edits, failures."""

from __future__ import annotations

import itertools
import os

from storage.models import StageRun
from tests.bot import chat_fixtures
from tests.bot.chat_fixtures import SlowFilesTelegram, button, rows, seen
from tests.conftest import running

slow_telegram = chat_fixtures.slow_files_telegram


def _edit_times(telegram: SlowFilesTelegram, chat_id: int, message_id: int) -> list[float]:
    return [
        call.time
        for call in telegram.calls
        if call.method in ("editMessageText", "editMessageReplyMarkup")
        and int(call.params.get("chat_id", 0)) == chat_id
        and int(call.params.get("message_id", 0)) == message_id
        and call.error is None
    ]


async def test_a_long_download_is_shown_with_a_bar_and_edited_once_per_three_seconds(
    settings, telegram: SlowFilesTelegram
) -> None:
    real = settings.model_copy(update={"progress_interval": 3.0})
    assert real.progress_interval == type(settings)().progress_interval
    telegram.bytes_per_second = 1_500_000
    async with running(real, telegram):
        user = telegram.user(1201, "Ann", language_code="en")
        chat = telegram.private_chat(user)
        await telegram.send_document(
            chat, user, os.urandom(9_000_000), file_name="long.mp4", mime_type="video/mp4"
        )
        progress = await telegram.wait_for_message(1201, after=0)
        await telegram.wait_for(lambda: "not a video I can read" in seen(progress), timeout=40)

    texts = [t or "" for t in progress.texts]
    downloading = [t for t in texts if "Downloading" in t]
    assert downloading, texts
    assert any("◽️ Trim" in t and "◽️ Description" in t for t in downloading)
    assert any("▰" in t and "%" in t and "left" in t for t in downloading), downloading
    assert "❌ This file is not a video I can read." in seen(progress)
    assert "◽️ Trim" in seen(progress)

    times = _edit_times(telegram, 1201, progress.message_id)
    assert len(times) >= 3
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(gap >= 2.9 for gap in gaps), gaps


async def test_a_failed_stage_says_why_and_offers_a_retry(
    settings, telegram: SlowFilesTelegram
) -> None:
    async with running(settings, telegram):
        user = telegram.user(1211, "Олег", language_code="ru")
        chat = telegram.private_chat(user)
        await telegram.send_document(
            chat, user, b"%PDF-1.4\n" + b"x" * 5000, file_name="slides.mp4", mime_type="video/mp4"
        )
        progress = await telegram.wait_for_message(1211, after=0)
        await telegram.wait_for(lambda: "❌" in seen(progress), timeout=30)
        await telegram.wait_for(lambda: progress.buttons, timeout=10)
        assert "не похож на видео" in seen(progress)
        await telegram.press(chat, user, progress.message_id, button(progress, "Повторить"))
        await telegram.wait_for(lambda: not progress.buttons, timeout=10)
        # The stage ran again, failed the same way, and offers the retry once more.
        await telegram.wait_for(lambda: progress.buttons, timeout=30)
        runs = await rows(settings, StageRun)
        assert [(r.stage, r.attempts, r.status) for r in runs] == [("fetch", 2, "failed")]
