"""Real files sent in the chat the ways people send them: a phone video held upright, a
video with a few damaged kilobytes, a browser's recording as a document, a Telegram voice
message. Each reaches its review card, with the picture the right way up, the damaged one
whole but for its broken frames, and the words of the voice message in its transcript."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from pipeline.probe import probe
from storage.files import MediaStore
from storage.models import Recording, RecordingStatus
from tests.bot.chat_fixtures import rows, seen
from tests.conftest import RunningBot
from tests.fakes.telegram import FakeTelegram

REAL = Path(__file__).resolve().parents[1] / "data" / "real"


@pytest.fixture(scope="module")
def upright_phone_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Landscape pixels with a 90° display rotation, real speech: a phone held upright."""
    folder = tmp_path_factory.mktemp("chat-real")
    flat, path = folder / "flat.mp4", folder / "IMG_0042.mp4"
    ffmpeg = ["ffmpeg", "-v", "error", "-y"]
    subprocess.run(
        [*ffmpeg, "-f", "lavfi", "-i", "testsrc2=s=160x96:r=25:d=6",
         "-i", str(REAL / "ae_aac.m4a"), "-map", "0:v", "-map", "1:a", "-c:v", "libx264",
         "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "copy", "-shortest", str(flat)],
        check=True,
    )  # fmt: skip
    subprocess.run(
        [*ffmpeg, "-i", str(flat), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(path)],
        check=True,
    )
    return path


@pytest.fixture(scope="module")
def damaged_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """auto-editor's example with 4 KB in the middle overwritten: ffmpeg plays all but two
    of its frames."""
    path = tmp_path_factory.mktemp("chat-real") / "lecture.mp4"
    data = bytearray((REAL / "ae_example.mp4").read_bytes())
    middle = len(data) // 2
    data[middle : middle + 4096] = bytes(4096)
    path.write_bytes(bytes(data))
    return path


async def test_a_phone_video_a_damaged_video_a_browser_recording_and_a_voice_message_reach_review(
    app: RunningBot, telegram: FakeTelegram, upright_phone_video: Path, damaged_video: Path
) -> None:
    people = {"video": 3401, "document": 3402, "voice": 3403, "damaged": 3404}
    sends = {
        "video": lambda chat, user: telegram.send_video(
            chat, user, upright_phone_video, file_name="IMG_0042.mp4", duration=6,
            width=96, height=160,
        ),
        "document": lambda chat, user: telegram.send_document(
            chat, user, REAL / "tsebml_chrome57.webm", file_name="meeting.webm",
            mime_type="video/webm",
        ),
        "voice": lambda chat, user: telegram.send_voice(
            chat, user, REAL / "tgbotapi_voice.ogg", duration=3
        ),
        "damaged": lambda chat, user: telegram.send_video(
            chat, user, damaged_video, file_name="lecture.mp4", duration=42,
            width=1280, height=720,
        ),
    }  # fmt: skip
    # One after another, each to its review card: several transcriptions at once while
    # other stages start ffmpeg can stall the worker (OpenBLAS threads and fork).
    for kind, user_id in people.items():
        user = telegram.user(user_id, "Ann", language_code="en")
        await sends[kind](telegram.private_chat(user), user)
        await telegram.wait_for_message(
            user_id, lambda m: "Ready for review" in seen(m), after=0, timeout=120
        )

    found = await rows(app.settings, Recording)
    assert len(found) == 4
    by_name = {r.source_name: r for r in found}
    recordings = {r.source_ext: r for r in found if r.source_name != "lecture.mp4"}
    assert set(recordings) == {"mp4", "webm", "ogg"}
    assert all(r.status is RecordingStatus.AWAITING_REVIEW for r in recordings.values())
    store = MediaStore(app.settings.storage_dir)

    def folder(recording: Recording) -> Path:
        return store.recording_dir(recording.workspace_id, recording.id, create=False)

    # The phone video plays upright, as the phone showed it.
    video = probe(folder(recordings["mp4"]) / "video.mp4")
    assert video.width and video.height
    shown = (
        (video.height, video.width) if video.rotation % 180 == 90 else (video.width, video.height)
    )
    assert shown == (96, 160)
    # The browser's recording states no duration; picture and sound are both kept.
    webm = probe(folder(recordings["webm"]) / "video.mp4")
    assert webm.has_video and webm.has_audio and webm.duration == pytest.approx(7.5, abs=0.3)
    assert recordings["webm"].media["source"]["has_video"] is True
    # The damaged video is whole but for the two frames ffmpeg cannot read either, and
    # only the second around them was re-encoded.
    damaged = by_name["lecture.mp4"]
    assert damaged.media["trim"]["cut"]["video"] == "patch"
    lecture = probe(folder(damaged) / "video.mp4")
    assert lecture.duration > 40
    assert lecture.video_frames == round(damaged.media["trim"]["duration"] * 30) - 2
    # The voice message is heard.
    transcript = json.loads((folder(recordings["ogg"]) / "transcript.json").read_text())
    text = " ".join(s["text"] for s in transcript["segments"]).lower()
    assert "voice message" in text and "telegram" in text, text
