"""Files that are not the lecture they claim to be: each is refused in the sender's language.

The recording ends FAILED (never stuck downloading or processing), the source stays in the
recording's folder for an inspection or a retry, nothing is left half-written, and nobody
else's rows or files change.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from jobs.queues import PIPELINE
from pipeline.probe import probe
from storage.models import RecordingStatus, StageRun, StageStatus
from tests.safety.conftest import (
    Inputs,
    World,
    at_rest,
    folder_of,
    labels,
    leftovers,
    reply_to,
    seen,
    select,
    snapshot,
)


@dataclass(frozen=True)
class Case:
    user_id: int
    input: str
    file_name: str
    as_video: bool
    lang: str
    says: str
    code: str
    stage: str


CASES = {
    "pdf_named_mp4": Case(
        7101, "pdf", "lecture.mp4", False, "en", "This file is not a video I can read", "not_media",
        "fetch",
    ),
    "zero_bytes": Case(7102, "empty", "lecture.mp4", False, "ru", "Файл пустой", "empty", "fetch"),
    "truncated_mp4": Case(
        7103, "truncated", "lecture.mp4", True, "en", "damaged or incomplete", "truncated",
        "fetch",
    ),
    "video_without_audio": Case(
        7104, "mute", "mute.mp4", True, "ru", "нет звуковой дорожки", "no_audio", "trim"
    ),
    "all_silent": Case(
        7105, "silent", "silent.mp4", False, "en", "silent from start to end", "silent", "trim"
    ),
    "six_hours": Case(
        7106, "six_hours", "marathon.mp4", True, "en",
        "The recording is 6:00:00 long; the most I accept is 5:00:00", "too_long", "fetch",
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", list(CASES))
async def test_bad_media_fails_with_a_reason_and_changes_nothing_else(
    world: World, inputs: Inputs, name: str
) -> None:
    case = CASES[name]
    telegram, settings = world.telegram, world.settings
    source: Path = getattr(inputs, case.input)
    user = telegram.user(case.user_id, "Ann", language_code=case.lang)
    chat = telegram.private_chat(user)
    before = await snapshot(settings)

    mark = telegram.mark()
    if case.as_video:
        await telegram.send_video(chat, user, source, file_name=case.file_name)
    else:
        await telegram.send_document(
            chat, user, source, file_name=case.file_name, mime_type="video/mp4"
        )
    progress = await reply_to(telegram, case.user_id, mark, "❌")

    assert case.says in seen(progress), seen(progress)
    assert labels(progress) == ["🔁 Повторить" if case.lang == "ru" else "🔁 Try again"]
    [recording] = await at_rest(settings, case.user_id)
    assert recording.status is RecordingStatus.FAILED
    assert (recording.failure_code, recording.stage) == (case.code, case.stage)
    runs = await select(settings, sa.select(StageRun).where(StageRun.recording_id == recording.id))
    # The stages up to the one that refused ran, and no later one was even begun.
    assert [r.stage for r in runs] == list(PIPELINE[: PIPELINE.index(case.stage) + 1])
    assert [r.status for r in runs][-1] is StageStatus.FAILED

    # The source is kept, byte for byte, where the design keeps it; nothing else is made.
    folder = folder_of(settings, recording)
    assert (folder / "source.mp4").read_bytes() == source.read_bytes()
    assert sorted(p.name for p in folder.iterdir()) == ["source.mp4"]
    assert leftovers(settings) == []
    assert before.changed_beyond(await snapshot(settings), recording.workspace_id) == []


async def test_audio_only_recording_goes_through_as_a_podcast(world: World, inputs: Inputs) -> None:
    """Sound without a picture (a phone's voice recorder saving into MP4) is a lecture too."""
    telegram, settings = world.telegram, world.settings
    user = telegram.user(7111, "Ann", language_code="en")
    chat = telegram.private_chat(user)
    before = await snapshot(settings)
    mark = telegram.mark()
    await telegram.send_document(
        chat, user, inputs.podcast, file_name="podcast.mp4", mime_type="video/mp4"
    )
    progress = await telegram.wait_for_message(7111, after=mark)
    card = await telegram.wait_for_message(
        7111, lambda m: "Ready for review: podcast" in seen(m), after=mark, timeout=60
    )
    [recording] = await at_rest(settings, 7111)
    assert recording.status is RecordingStatus.AWAITING_REVIEW
    assert "Received: 0:09, audio only" in seen(progress)
    assert "Trimmed: 0:09 →" in seen(progress)
    assert recording.media["source"]["has_video"] is False

    # No picture, so no thumbnail; the published file is the trimmed sound, subtitles beside it.
    folder = folder_of(settings, recording)
    assert not (folder / "thumbnail.jpg").exists()
    assert probe(folder / "video.mp4").has_audio
    assert not probe(folder / "video.mp4").has_video
    transcript = json.loads((folder / "transcript.json").read_text())
    assert "signals" in " ".join(s["text"] for s in transcript["segments"]).lower()
    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata["title"] == "podcast"

    publish = next(data for label, data in card.buttons if "Publish" in label)
    await telegram.press(chat, user, card.message_id, publish)
    archive = await telegram.wait_for_message(
        7111, lambda m: m.document is not None and m.document.file_name == "podcast.zip",
        after=mark, timeout=30,
    )  # fmt: skip
    assert archive.document is not None
    with zipfile.ZipFile(io.BytesIO(archive.document.data)) as packed:
        assert {"video.mp4", "subtitles.srt", "metadata.json"} <= set(packed.namelist())
    [published] = await at_rest(settings, 7111)
    assert published.status is RecordingStatus.READY
    assert leftovers(settings) == []
    assert before.changed_beyond(await snapshot(settings), recording.workspace_id) == []


@pytest.mark.parametrize("as_audio", [True, False], ids=["audio_message", "m4a_document"])
async def test_sound_sent_as_music_or_m4a_is_taken_as_a_podcast(
    world: World, inputs: Inputs, as_audio: bool
) -> None:
    """A sound file sent as music or as an .m4a document is a recording like any other: it
    reaches review, and only what can take sound alone is offered."""
    telegram, settings = world.telegram, world.settings
    user_id = 7112 if as_audio else 7113
    user = telegram.user(user_id, "Ann", language_code="en")
    chat = telegram.private_chat(user)
    before = await snapshot(settings)
    mark = telegram.mark()
    if as_audio:
        await telegram.send_audio(
            chat, user, inputs.podcast, file_name="podcast.m4a", mime_type="audio/mp4", duration=9
        )
    else:
        await telegram.send_document(
            chat, user, inputs.podcast, file_name="podcast.m4a", mime_type="audio/mp4"
        )
    answer = await telegram.wait_for_message(user_id, after=mark)
    assert "Waiting in the queue" in seen(answer), seen(answer)
    card = await telegram.wait_for_message(
        user_id, lambda m: "Ready for review: podcast" in seen(m), after=mark, timeout=60
    )
    [recording] = await at_rest(settings, user_id)
    assert recording.status is RecordingStatus.AWAITING_REVIEW, recording.failure_reason
    assert recording.source_ext == "m4a"
    assert "Sound only" in seen(card)
    assert not any("YouTube" in label or "VK" in label for label in labels(card))
    assert leftovers(settings) == []
    assert before.changed_beyond(await snapshot(settings), recording.workspace_id) == []
