"""A file from the chat survives a hiccup of Telegram's file servers: the fetch tries again."""

from __future__ import annotations

import asyncio
from pathlib import Path

from leap.settings import Settings
from storage.models import Recording, RecordingStatus, StageRun
from tests.bot.test_zoom_e2e import rows
from tests.conftest import running
from tests.fakes.telegram import FakeTelegram


async def _outcome(url: str, timeout: float = 90.0) -> Recording:
    """The chat's one recording once the pipeline has nothing more to do with it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        found = await rows(url, Recording)
        if found and found[0].status in (RecordingStatus.AWAITING_REVIEW, RecordingStatus.FAILED):
            return found[0]
        assert loop.time() < deadline, found
        await asyncio.sleep(0.1)


def _quick(settings: Settings) -> Settings:
    return settings.model_copy(update={"retry_delay_scale": 0.001})


async def test_a_failed_file_download_is_retried_and_the_recording_reaches_review(
    settings: Settings, telegram: FakeTelegram, small_video: Path
) -> None:
    user = telegram.user(931, "Ira", language_code="en")
    chat = telegram.private_chat(user)
    telegram.fail_download(status=502)

    async with running(_quick(settings), telegram):
        await telegram.send_document(
            chat, user, small_video, file_name="lecture.mp4", mime_type="video/mp4"
        )
        recording = await _outcome(settings.database_url)

    assert recording.status == RecordingStatus.AWAITING_REVIEW.value, recording.failure_reason
    [fetch] = [r for r in await rows(settings.database_url, StageRun) if r.stage == "fetch"]
    assert fetch.attempts == 2
    assert len(telegram.calls_of("getFile")) == 2


async def test_telegram_failing_to_describe_the_file_is_retried_too(
    settings: Settings, telegram: FakeTelegram, small_video: Path
) -> None:
    user = telegram.user(932, "Oleg", language_code="en")
    chat = telegram.private_chat(user)
    telegram.fail_next("getFile", error_code=502)

    async with running(_quick(settings), telegram):
        await telegram.send_document(
            chat, user, small_video, file_name="lecture.mp4", mime_type="video/mp4"
        )
        recording = await _outcome(settings.database_url)

    assert recording.status == RecordingStatus.AWAITING_REVIEW.value, recording.failure_reason
    assert [c.error is None for c in telegram.calls_of("getFile")] == [False, True]


async def test_a_file_too_big_for_the_bot_still_fails_at_once(
    settings: Settings, telegram: FakeTelegram, small_video: Path
) -> None:
    user = telegram.user(933, "Vera", language_code="en")
    chat = telegram.private_chat(user)
    telegram.fail_next("getFile", error_code=400, description="Bad Request: file is too big")

    async with running(_quick(settings), telegram):
        await telegram.send_document(
            chat, user, small_video, file_name="lecture.mp4", mime_type="video/mp4"
        )
        recording = await _outcome(settings.database_url)

    assert recording.status == RecordingStatus.FAILED.value
    assert recording.failure_code == "file_too_big"
    assert len(telegram.calls_of("getFile")) == 1
