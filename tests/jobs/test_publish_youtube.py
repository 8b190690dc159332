"""Publishing to YouTube: the real Google client against the fake, driven by the io worker."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime

from redis.asyncio import Redis

from integrations.youtube import next_quota_reset
from jobs.publish import publish_job_id
from jobs.queues import IO
from storage.models import PublicationStatus, RecordingStatus
from tests.conftest import running
from tests.jobs.conftest import SRT, World

CHUNK = 256 * 1024


async def test_resumable_upload_in_chunks_with_captions_thumbnail_and_playlist(
    world: World,
) -> None:
    await world.connect_youtube()
    playlist = world.google.add_playlist("Signals")
    await world.set_compose(privacy="unlisted", playlist_id=playlist)
    world.google.fail("upload", 503, skip=1)  # the second chunk meets a 503
    world.google.hold("upload", skip=2)  # and a later one waits while we look at the chat

    async with running(world.settings, world.telegram):
        assert await world.publish(["youtube"]) == ["youtube"]
        await world.google.wait_held()
        progress = world.telegram.message(world.chat["id"], world.progress_message_id)
        shown = await world.telegram.wait_for(
            lambda: "%" in (progress.content or "") and progress.content
        )
        world.google.release()
        links = await world.links_message()

    [video] = world.google.videos.values()
    size = (world.folder / "video.mp4").stat().st_size
    assert video.data == (world.folder / "video.mp4").read_bytes()
    assert video.title == "Signals, lecture 3: sampling"
    assert video.resource["status"]["privacyStatus"] == "unlisted"
    assert video.resource["snippet"]["categoryId"] == "27"
    assert "0:02 Sampling a signal" in video.resource["snippet"]["description"]
    assert len(world.google.sessions) == 1
    sent = [c for c in world.google.chunks if c.status in (200, 308)]
    assert len(sent) == -(-size // CHUNK)
    assert [c.status for c in world.google.chunks].count(503) == 1
    # After the 503 the upload asked what Google kept and went on from there.
    assert sorted({c.start for c in sent}) == [c.start for c in sent]

    [caption] = world.google.captions
    assert (caption.video_id, caption.language) == (video.id, "en")
    assert caption.content == SRT.encode()
    [thumbnail] = world.google.thumbnails
    assert thumbnail.video_id == video.id
    assert thumbnail.content == (world.folder / "thumbnail.jpg").read_bytes()
    [item] = world.google.playlist_items
    assert (item.playlist_id, item.video_id) == (playlist, video.id)

    assert f"https://youtu.be/{video.id}" in links.content
    publication = (await world.publications())["youtube"]
    assert publication.status == PublicationStatus.DONE.value
    assert publication.remote_id == video.id
    assert publication.resume == {"session_uri": world.google.sessions[video.session_id].uri}
    assert (await world.recording()).status == RecordingStatus.READY.value
    assert re.search(r"YouTube: \d+%", shown)
    await world.telegram.wait_for(lambda: "✅ YouTube: published" in (progress.content or ""))


async def test_stopped_worker_resumes_the_same_upload(world: World) -> None:
    await world.connect_youtube()
    world.google.hold("upload", skip=2)  # the third chunk hangs until released
    stopping = world.settings.model_copy(update={"shutdown_grace": 0.2})

    async with running(stopping, world.telegram) as app:
        await world.publish(["youtube"])
        await world.google.wait_held()
        [session] = world.google.sessions.values()
        kept = len(session.data)
        app.stop.set()
        # Once the worker has given up on the job, the hung request may end.
        await world.telegram.wait_for(_job_cancelled)
        world.google.release()
    assert world.google.videos == {}
    # The hung chunk may still land when released; the rest waits for the next run.
    stopped_at = len(session.data)
    assert 0 < kept <= stopped_at < session.total
    publication = (await world.publications())["youtube"]
    assert publication.status == PublicationStatus.UPLOADING.value
    assert publication.resume == {"session_uri": session.uri}

    async with running(world.settings, world.telegram):
        links = await world.links_message()

    [video] = world.google.videos.values()
    assert video.data == (world.folder / "video.mp4").read_bytes()
    assert len(world.google.sessions) == 1
    starts = [c.start for c in world.google.chunks if c.status in (200, 308)]
    # Every byte went once: the second run began where the first one stopped.
    assert starts == list(range(0, session.total, CHUNK))
    assert stopped_at in starts
    assert f"https://youtu.be/{video.id}" in links.content
    assert len(world.google.captions) == len(world.google.thumbnails) == 1


def _job_cancelled() -> bool:
    """The worker gave up on its job: being cancelled, or already gone.

    Only called while the job's outside call is held, so a job that is gone was cancelled;
    looking for `cancelling()` alone could miss a cancellation that completes between looks.
    """
    jobs = [
        task
        for task in asyncio.all_tasks()
        if task.get_coro().__qualname__ == "Worker.run_job"  # type: ignore[union-attr]
    ]
    return not jobs or any(task.cancelling() for task in jobs)


async def test_quota_exceeded_waits_for_the_reset_and_says_when(world: World) -> None:
    await world.connect_youtube()
    world.google.fail("videos.insert", 403, reason="quotaExceeded")
    reset = next_quota_reset()

    async with running(world.settings, world.telegram):
        await world.publish(["youtube"])
        notice = await world.telegram.wait_for_message(
            world.chat["id"], lambda m: "daily upload limit" in (m.content or ""), after=0
        )
        score = await _queued_after(world, datetime.now(UTC).timestamp() + 60)
        progress = world.telegram.message(world.chat["id"], world.progress_message_id)
        await world.telegram.wait_for(lambda: "daily limit used up" in (progress.content or ""))

    assert reset.strftime("%Y-%m-%d %H:%M UTC") in notice.content
    # The job waits in the queue until the quota is back, not a moment earlier.
    assert score / 1000 >= reset.timestamp()
    assert world.google.videos == {}
    assert world.google.sessions == {}
    assert (await world.publications())["youtube"].status == PublicationStatus.UPLOADING.value
    assert world.links_messages() == []


async def _queued_after(world: World, moment: float) -> float:
    """The job's place in the io queue once it has been put back for later."""
    redis = Redis.from_url(world.settings.redis_url)
    try:
        for _ in range(500):
            score = await redis.zscore(IO, publish_job_id(world.recording_id, "youtube"))
            if score is not None and score / 1000 > moment:
                return float(score)
            await asyncio.sleep(0.02)
    finally:
        await redis.aclose()
    raise AssertionError("the job was not put back for later")


async def test_revoked_grant_marks_the_connection_and_asks_to_reconnect(world: World) -> None:
    tokens = await world.connect_youtube()
    world.google.revoke(tokens["refresh_token"])  # removed at myaccount.google.com

    async with running(world.settings, world.telegram):
        await world.publish(["youtube"])
        prompt = await world.telegram.wait_for_message(
            world.chat["id"], lambda m: "no longer accepts" in (m.content or ""), after=0
        )
        links = await world.links_message()
        mark = world.telegram.mark()
        await world.telegram.send_text(world.chat, world.user, "/connections")
        listing = await world.telegram.wait_for_message(world.chat["id"], after=mark)

    assert "Connect it again with /connect" in prompt.content
    assert "• YouTube: Lecture Hall — ⚠️ needs to be connected again" in listing.content
    assert links.content.splitlines()[1] == (
        "❌ YouTube: YouTube needs to be connected again (/connect)."
    )
    assert world.google.sessions == {}
    [credential] = await world.credentials()
    assert world.box.decrypt(credential.payload)["broken"] is True
    assert (await world.recording()).status == RecordingStatus.FAILED.value


async def test_captions_and_playlist_item_whose_answers_were_lost_are_made_once(
    world: World,
) -> None:
    await world.connect_youtube()
    playlist = world.google.add_playlist("Signals")
    await world.set_compose(playlist_id=playlist)
    # Google makes the caption track and the playlist item, and the answers come back as 503s.
    world.google.fail("captions", 503, after=True)
    world.google.fail("playlistItems", 503, after=True)

    async with running(world.settings, world.telegram):
        await world.publish(["youtube"])
        links = await world.links_message()

    [video] = world.google.videos.values()
    [caption] = world.google.captions
    assert caption.video_id == video.id
    [item] = world.google.playlist_items
    assert (item.playlist_id, item.video_id) == (playlist, video.id)
    publication = (await world.publications())["youtube"]
    assert publication.status == PublicationStatus.DONE.value
    # Nothing was refused, so the person is told of nothing.
    assert publication.error is None
    assert "not added" not in links.content
    done = (await world.recording()).media["publish"]["youtube"]
    assert done["captions"] is not False and done["playlist"] == item.id
