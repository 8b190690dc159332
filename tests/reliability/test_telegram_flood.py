"""Telegram answers every progress edit with 429 and a retry_after of an hour: the jobs neither
wait for it nor fail because of it, and the edits back off instead of hammering the chat."""

from __future__ import annotations

import asyncio
from pathlib import Path

from redis.asyncio import Redis

from integrations.telegram import make_bot
from jobs.progress import ProgressHub, paced_edit
from storage.models import RecordingStatus
from tests.fakes.telegram import FakeTelegram
from tests.reliability.conftest import Site, send_lecture


async def test_flood_control_on_progress_edits_does_not_slow_or_fail_jobs(
    bot: Site, small_video: Path
) -> None:
    site = bot
    site.telegram.fail_next("editMessageText", error_code=429, retry_after=3600, times=10**6)
    site.worker()
    progress = await send_lecture(site, 961, small_video)
    # Had any job waited out the hour, this would not happen within the test's time.
    done = await site.wait_status(1, RecordingStatus.AWAITING_REVIEW, RecordingStatus.FAILED)
    assert done.status == RecordingStatus.AWAITING_REVIEW, done.failure_reason
    card = await site.telegram.wait_for_message(
        961, lambda m: m.message_id != progress.message_id and bool(m.buttons), after=0
    )
    assert card.buttons

    for stage in ("fetch", "trim", "transcribe", "topics", "subtitles", "compose"):
        run = await site.stage_run(1, stage)
        assert run is not None and run.status == "done" and run.attempts == 1, stage
    # The first refusal set the pace for everyone who edits this message: about one try.
    edits = [
        c
        for c in site.telegram.calls_of("editMessageText")
        if int(c.params["message_id"]) == progress.message_id
    ]
    assert 1 <= len(edits) <= 3, len(edits)


async def test_a_finished_reporter_leaves_its_last_text_to_the_background(
    telegram: FakeTelegram, clean_redis: str
) -> None:
    bot = make_bot(telegram.token, telegram.base_url)
    redis = Redis.from_url(clean_redis)
    try:
        chat = telegram.private_chat(telegram.user(962, "Ann"))
        shown = await bot.send_message(chat["id"], "queued")
        telegram.fail_next("editMessageText", error_code=429, retry_after=3600)
        hub = ProgressHub(bot, redis, 0.1)
        reporter = hub.message(chat["id"], shown.message_id)
        reporter.update("Transcribing… 40%")
        await telegram.wait_for(lambda: telegram.calls_of("editMessageText"))

        # The stage ends under flood control: finishing returns with the text still pending.
        await asyncio.wait_for(hub.finish(chat["id"], shown.message_id), 30)
        assert not reporter.idle
        # The next stage's reporter speaks for the message now; the stale text is dropped.
        hub.message(chat["id"], shown.message_id).update("Topics…")
        await telegram.wait_for(lambda: reporter.idle)
        assert len(telegram.calls_of("editMessageText")) == 1
    finally:
        await redis.aclose()
        await bot.session.close()


async def test_a_card_edit_under_an_hour_of_flood_control_is_dropped_not_waited_for(
    telegram: FakeTelegram, clean_redis: str
) -> None:
    bot = make_bot(telegram.token, telegram.base_url)
    redis = Redis.from_url(clean_redis)
    try:
        chat = telegram.private_chat(telegram.user(963, "Ann"))
        shown = await bot.send_message(chat["id"], "Trimming…")
        telegram.fail_next("editMessageText", error_code=429, retry_after=3600)
        # Had it waited out the hour, the stage that failed would still be holding its worker.
        await asyncio.wait_for(
            paced_edit(bot, redis, chat["id"], shown.message_id, "Failed: disk full", None, 0.1),
            10,
        )
        assert len(telegram.calls_of("editMessageText")) == 1

        # A short wait is sat out, and the edit then lands.
        telegram.fail_next("editMessageText", error_code=429, retry_after=1)
        await paced_edit(bot, redis, chat["id"], shown.message_id, "Failed: disk full", None, 0.1)
        await telegram.wait_for(lambda: "Failed: disk full" in (shown_text(telegram, chat) or ""))
    finally:
        await redis.aclose()
        await bot.session.close()


def shown_text(telegram: FakeTelegram, chat: dict[str, object]) -> str | None:
    sent = telegram.sent(int(chat["id"]))  # type: ignore[call-overload]
    return sent[0].content if sent else None
