"""A worker SIGKILLed in the middle of every stage in turn: the next worker finishes the work.

One recording meets eight worker processes. Each but the last is killed while a stage is in
flight: the download half-served, trim started, a speech request unanswered, topics, the
subtitles and the description each half-written to disk, and the YouTube upload between two
chunks. Every time a new worker takes the stage over within seconds (the dead one's lease
runs out; no waiting for arq's hours-long timeout), the stage's outputs come out whole, and
YouTube receives one video, uploaded once.
"""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.probe import probe
from storage.models import RecordingStatus
from tests.fakes.openai import Fault
from tests.reliability.conftest import Site, WorkerProcess, send_lecture


async def _kill_in(
    site: Site, worker: WorkerProcess, recording_id: int, stage: str, hold: str | None
) -> None:
    """Wait until `worker` is inside `stage`, and SIGKILL it."""
    if hold is not None:
        assert await site.held(worker) == stage
    elif stage == "fetch":
        await site.until(site.telegram.download_held.is_set, process=worker)
    elif stage == "transcribe":
        await site.until(lambda: site.openai.in_flight["transcriptions"] > 0, process=worker)
    elif stage == "publish":
        await site.until(lambda: site.google._held.is_set(), process=worker)
    if stage != "publish":
        await site.wait_running(recording_id, stage)
        assert (await site.recording(recording_id)).stage == stage
    worker.kill()


async def test_a_worker_killed_in_each_stage_is_replaced_and_nothing_is_done_twice(
    bot: Site, small_video: Path
) -> None:
    site = bot
    site.telegram.hold_downloads = True
    await send_lecture(site, 601, small_video)
    (recording,) = await site.recordings()
    rid, wid = recording.id, recording.workspace_id
    folder = site.folder(wid, rid)

    site.openai.fail("transcriptions", Fault(delay=600))
    site.google.hold("upload", skip=1)
    # Each worker is killed in its stage. They are all started at once and wait for their
    # turn with their modules loaded, so only the recoveries themselves are waited for.
    plan = [
        ("fetch", None),
        ("trim", "trim"),
        ("transcribe", None),
        ("topics", "topics"),
        ("subtitles", "subtitles"),
        ("compose", "compose"),
        ("publish", None),
    ]
    workers = [site.worker(hold=hold, ready=True) for _stage, hold in plan]
    last = site.worker(ready=True)
    for (stage, hold), worker, following in zip(plan, workers, [*workers[1:], last], strict=True):
        if stage == "fetch":
            worker.go()
        if stage == "publish":
            reviewed = await site.wait_status(rid, RecordingStatus.AWAITING_REVIEW)
            await site.connect_youtube(wid)
            await site.publish(wid, rid, ["youtube"])
        await _kill_in(site, worker, rid, stage, hold)
        if stage == "fetch":
            site.telegram.release_downloads()
        if stage == "publish":
            site.google.release()
        following.go()

    ready = await site.wait_status(rid, RecordingStatus.READY, RecordingStatus.FAILED)
    assert ready.status == RecordingStatus.READY, ready.failure_reason

    # Each stage ran to the end once its last worker took it; the killed runs show as tries.
    runs = {r.stage: r for r in await site.rows(type(await site.stage_run(rid, "fetch")))}
    for stage in ("fetch", "trim", "transcribe", "topics", "subtitles", "compose"):
        assert runs[stage].status == "done", stage
        assert runs[stage].attempts >= 2, stage

    # Outputs are whole: the video plays to its recorded length, the text files parse, the
    # subtitles agree with each other, and no temporary file is left behind.
    source = probe(folder / "source.mp4")
    assert source.size == small_video.stat().st_size
    video = probe(folder / "video.mp4")
    assert abs(video.duration - reviewed.media["trim"]["duration"]) < 0.2
    transcript = json.loads((folder / "transcript.json").read_text())
    assert [s["text"] for s in transcript["segments"]][:2] == [
        "Good morning everyone.",
        "Today we talk about sampling a signal.",
    ]
    # A clip shorter than one chapter has no topics; the file still parses whole.
    assert isinstance(json.loads((folder / "topics.json").read_text())["topics"], list)
    srt = (folder / "subtitles.srt").read_text()
    vtt = (folder / "subtitles.vtt").read_text()
    assert vtt.startswith("WEBVTT") and srt.count(" --> ") == vtt.count(" --> ") > 0
    assert json.loads((folder / "metadata.json").read_text())["title"] == "lecture"
    assert not list(folder.rglob("*.part"))
    assert not list(folder.glob(".trim-*"))

    # YouTube got one video from one upload session, every byte sent once.
    [uploaded] = site.google.videos.values()
    assert uploaded.data == (folder / "video.mp4").read_bytes()
    assert len(site.google.sessions) == 1
    sent = [c.start for c in site.google.chunks if c.status in (200, 308)]
    assert sent == sorted(set(sent))
    publication = (await site.publications(rid))["youtube"]
    assert publication.remote_id == uploaded.id
    links = await site.telegram.wait_for_message(
        601, lambda m: f"youtu.be/{uploaded.id}" in (m.content or ""), after=0
    )
    assert "YouTube" in links.content
