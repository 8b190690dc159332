"""/recordings: pages, a recording's card, cancel, retry, delete and places in the queue."""

from __future__ import annotations

import os
from pathlib import Path

from redis.asyncio import Redis

from leap.settings import Settings
from storage import repo
from storage.db import create_engine, session_maker
from storage.files import MediaStore
from storage.models import (
    AuditEvent,
    Publication,
    PublicationStatus,
    Recording,
    RecordingStatus,
    SourceKind,
    StageRun,
    StageStatus,
    WorkspaceKind,
)
from tests.bot import chat_fixtures
from tests.bot.chat_fixtures import (
    SlowFilesTelegram,
    bot_only,
    button,
    recording_row,
    reviewable,
    rows,
    seen,
)
from tests.conftest import RunningBot

lecture_video = chat_fixtures.lecture_video
slow_telegram = chat_fixtures.slow_files_telegram


async def _recordings(app: RunningBot, chat_id: int, kind: WorkspaceKind, count: int) -> None:
    engine = create_engine(app.settings.database_url)
    try:
        async with session_maker(engine)() as session:
            workspace, _ = await repo.ensure_workspace(session, chat_id, kind, "Ann")
            for number in range(1, count + 1):
                recording = await repo.create_recording(
                    session,
                    workspace.id,
                    source_kind=SourceKind.TELEGRAM,
                    source_ref="file",
                    source_name=f"lecture {number:02d}.mp4",
                    status=RecordingStatus.READY if number % 2 else RecordingStatus.FAILED,
                    failure_reason=None if number % 2 else "The file is empty.",
                    chat_id=chat_id,
                    stage=None if number % 2 else "fetch",
                )
                run = await repo.stage_run(session, workspace.id, recording.id, "fetch")
                run.status = StageStatus.DONE if number % 2 else StageStatus.FAILED
                run.seconds = 3.0
            await session.commit()
    finally:
        await engine.dispose()


async def test_recordings_are_listed_by_pages_and_each_has_a_card(
    app: RunningBot, telegram: SlowFilesTelegram
) -> None:
    user = telegram.user(901, "Ann", language_code="en")
    chat = telegram.private_chat(user)
    await _recordings(app, 901, WorkspaceKind.PERSONAL, 10)

    await telegram.send_text(chat, user, "/recordings")
    listing = await telegram.wait_for_message(901, after=0)
    assert "page 1" in seen(listing)
    names = [label for label, _ in listing.buttons]
    assert "lecture 10.mp4" in names[0] and "lecture 03.mp4" in names[7]
    assert names[0].startswith("❌") and names[1].startswith("✅")

    await telegram.press(chat, user, listing.message_id, button(listing, "Older"))
    await telegram.wait_for(lambda: "page 2" in seen(listing))
    labels = [label for label, _ in listing.buttons]
    assert any("lecture 01.mp4" in label for label in labels)
    assert any("Newer" in label for label in labels)

    await telegram.press(chat, user, listing.message_id, button(listing, "lecture 02.mp4"))
    await telegram.wait_for(lambda: "#2" in seen(listing))
    card = seen(listing)
    assert "Failed" in card and "The file is empty." in card
    assert "❌ Download" in card and "◽️ Trim" in card
    assert any("Retry" in label for label, _ in listing.buttons)

    await telegram.press(chat, user, listing.message_id, button(listing, "All recordings"))
    await telegram.wait_for(lambda: "page 2" in seen(listing))


async def test_cancel_stops_a_running_job_and_retry_starts_it_again(
    app: RunningBot, telegram: SlowFilesTelegram
) -> None:
    telegram.bytes_per_second = 400_000
    user = telegram.user(911, "Ann", language_code="en")
    chat = telegram.private_chat(user)
    payload = os.urandom(6_000_000)
    await telegram.send_document(chat, user, payload, file_name="long.mp4", mime_type="video/mp4")
    progress = await telegram.wait_for_message(911, after=0)
    await telegram.wait_for(lambda: "Downloading" in seen(progress))

    # Another file while the first is busy: accepted, with its place in the queue.
    await telegram.send_document(
        chat, user, b"x" * 1000, file_name="next.mp4", mime_type="video/mp4"
    )
    second = await telegram.wait_for_message(911, lambda m: "next.mp4" in seen(m))
    assert "Place in the queue: 2" in seen(second)

    await telegram.send_text(chat, user, "/recordings")
    listing = await telegram.wait_for_message(911, lambda m: "Recordings" in seen(m))
    await telegram.press(chat, user, listing.message_id, button(listing, "long.mp4"))
    await telegram.wait_for(lambda: "Cancel" in str(listing.buttons))
    await telegram.press(chat, user, listing.message_id, button(listing, "Cancel"))
    await telegram.wait_for(lambda: "Cancelled" in seen(listing), timeout=20)

    recording = await recording_row(app.settings, 1)
    assert recording.status == RecordingStatus.FAILED
    assert recording.failure_code == "cancelled"
    runs = await rows(app.settings, StageRun, recording_id=1)
    assert [(r.stage, r.status, r.error) for r in runs] == [
        ("fetch", StageStatus.FAILED, "cancelled")
    ]
    redis = Redis.from_url(app.settings.redis_url)
    try:
        assert not await redis.exists("arq:job:rec:1:fetch", "arq:in-progress:rec:1:fetch")
    finally:
        await redis.aclose()
    folder = MediaStore(app.settings.storage_dir).recording_dir(1, 1, create=False)
    assert not (folder / "source.mp4").exists()
    await telegram.wait_for(lambda: "Cancelled by Ann" in seen(progress), timeout=20)
    assert [a for a in await rows(app.settings, AuditEvent, action="cancel")]

    # Retry from the progress message: the download runs again, in full this time.
    telegram.bytes_per_second = None
    await telegram.press(chat, user, progress.message_id, button(progress, "Try again"))
    await telegram.wait_for(lambda: "not a video I can read" in seen(progress), timeout=30)
    runs = await rows(app.settings, StageRun, recording_id=1)
    assert runs[0].attempts == 2
    assert (folder / "source.mp4").stat().st_size == len(payload)
    assert (await recording_row(app.settings, 1)).failure_code == "not_media"


async def test_delete_removes_files_and_rows_and_is_for_admins(
    app: RunningBot, telegram: SlowFilesTelegram, lecture_video: Path
) -> None:
    group = telegram.group(-100921, "Signals")
    owner = telegram.user(921, "Olga", language_code="en")
    student = telegram.user(922, "Sam", language_code="en")
    telegram.set_admins(group["id"], [], creator=owner["id"])
    made = await reviewable(app.settings, telegram, group, owner, lecture_video)
    await telegram.wait_for_message(group["id"], lambda m: "Ready for review" in seen(m), after=0)

    await telegram.send_text(group, student, "/recordings")
    listing = await telegram.wait_for_message(group["id"], lambda m: "Recordings" in seen(m))
    await telegram.press(group, student, listing.message_id, button(listing, "signals"))
    await telegram.wait_for(lambda: "Waiting for review" in seen(listing))
    refused = await telegram.press(group, student, listing.message_id, button(listing, "Delete"))
    answer = await telegram.wait_for_answer(refused)
    assert answer["show_alert"] is True and "Only admins" in answer["text"]

    await telegram.press(group, owner, listing.message_id, button(listing, "Delete"))
    await telegram.wait_for(lambda: "Yes, delete" in str(listing.buttons))
    await telegram.press(group, owner, listing.message_id, button(listing, "Yes, delete"))
    await telegram.wait_for(lambda: "is deleted" in seen(listing))
    assert not made.folder.exists()
    assert await rows(app.settings, Recording) == []
    assert await rows(app.settings, StageRun) == []
    events = await rows(app.settings, AuditEvent, action="delete")
    assert [e.user_id for e in events] == [owner["id"]]


async def test_delete_waits_while_the_recording_is_being_published(
    settings: Settings, telegram: SlowFilesTelegram, lecture_video: Path
) -> None:
    async with bot_only(settings):  # no workers: the publish job stays queued
        group = telegram.group(-100931, "Signals")
        owner = telegram.user(931, "Olga", language_code="en")
        telegram.set_admins(group["id"], [], creator=owner["id"])
        made = await reviewable(settings, telegram, group, owner, lecture_video)
        card = await telegram.wait_for_message(
            group["id"], lambda m: "Ready for review" in seen(m), after=0
        )
        await telegram.send_text(group, owner, "/recordings")
        listing = await telegram.wait_for_message(group["id"], lambda m: "Recordings" in seen(m))
        await telegram.press(group, owner, listing.message_id, button(listing, "signals"))
        await telegram.wait_for(lambda: "Waiting for review" in seen(listing))
        # The question is asked before publishing starts and answered after.
        await telegram.press(group, owner, listing.message_id, button(listing, "Delete"))
        await telegram.wait_for(lambda: "Yes, delete" in str(listing.buttons))
        sure = button(listing, "Yes, delete")
        await telegram.press(group, owner, card.message_id, button(card, "Publish"))
        await telegram.wait_for(lambda: "Archive: waiting" in seen(card))

        query = await telegram.press(group, owner, listing.message_id, sure)
        answer = await telegram.wait_for_answer(query)
        assert answer["show_alert"] is True
        assert "being published right now" in answer["text"]
        await telegram.press(group, owner, listing.message_id, button(listing, "Keep it"))
        await telegram.wait_for(lambda: "Publishing" in seen(listing))
        query = await telegram.press(group, owner, listing.message_id, button(listing, "Delete"))
        assert "being published" in (await telegram.wait_for_answer(query))["text"]

    assert made.folder.is_dir()
    recording = await recording_row(settings, made.recording_id)
    assert recording.status == RecordingStatus.UPLOADING
    [publication] = await rows(settings, Publication, recording_id=made.recording_id)
    assert publication.status == PublicationStatus.PENDING
    assert await rows(settings, AuditEvent, action="delete") == []
