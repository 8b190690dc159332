"""A lecture sent to the chat goes through every stage; the files land on the published timeline."""

from __future__ import annotations

import json

from pipeline.probe import probe
from storage.files import MediaStore
from tests.bot.test_foundation_e2e import wait_for_rest
from tests.conftest import RunningBot
from tests.fakes.telegram import FakeTelegram
from tests.synth import Lecture


async def test_lecture_is_transcribed_chaptered_and_subtitled(
    app: RunningBot, telegram: FakeTelegram, chat_lecture: Lecture
) -> None:
    user = telegram.user(701, "Ann", language_code="en")
    chat = telegram.private_chat(user)
    await telegram.send_document(
        chat, user, chat_lecture.path, file_name="signals.mp4", mime_type="video/mp4"
    )
    progress = await telegram.wait_for_message(701, after=0)
    recording = await wait_for_rest(app.settings.database_url, timeout=120)
    folder = MediaStore(app.settings.storage_dir).recording_dir(1, recording.id, create=False)

    transcript = json.loads((folder / "transcript.json").read_text())
    text = " ".join(s["text"] for s in transcript["segments"]).lower()
    assert "signals" in text and "next week" in text
    video_length = probe(folder / "video.mp4").duration
    assert all(0 <= s["start"] <= s["end"] <= video_length + 0.5 for s in transcript["segments"])
    # The opening sentence starts about a second into the trimmed video, not eight seconds in.
    assert transcript["segments"][0]["start"] < 3.0

    topics = json.loads((folder / "topics.json").read_text())
    assert topics["topics"] and topics["topics"][0]["start"] == 0
    srt = (folder / "subtitles.srt").read_text()
    vtt = (folder / "subtitles.vtt").read_text()
    assert srt.startswith("1\n") and vtt.startswith("WEBVTT")
    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata["title"] == "signals"
    assert set(metadata) >= {"title", "description", "tags", "chapters"}
    assert (folder / "thumbnail.jpg").stat().st_size > 0
    assert recording.status == "awaiting_review"
    await telegram.wait_for(lambda: "Transcribed" in (progress.content or ""))
