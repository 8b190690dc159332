"""A lecture sent to the chat comes back trimmed; bad media gets a reason in plain words."""

from __future__ import annotations

from pathlib import Path

from pipeline.probe import probe
from storage.files import MediaStore
from tests.conftest import RunningBot
from tests.fakes.telegram import FakeTelegram
from tests.synth import Lecture


def _folder(app: RunningBot) -> Path:
    return MediaStore(app.settings.storage_dir).recording_dir(1, 1, create=False)


async def test_lecture_is_trimmed_and_the_chat_is_told(
    app: RunningBot, telegram: FakeTelegram, chat_lecture: Lecture
) -> None:
    user = telegram.user(601, "Ann", language_code="en")
    chat = telegram.private_chat(user)
    await telegram.send_document(
        chat, user, chat_lecture.path, file_name="lecture.mp4", mime_type="video/mp4"
    )
    progress = await telegram.wait_for_message(601, after=0)
    await telegram.wait_for(lambda: "Trimmed" in (progress.content or ""), timeout=60)

    assert any("Trimming" in (t or "") for t in progress.texts)
    video = probe(_folder(app) / "video.mp4")
    first_word, last_word = chat_lecture.words[0][0], chat_lecture.words[-1][1]
    spoken = last_word - first_word
    assert spoken <= video.duration <= spoken + 6
    assert f"→ 0:{round(video.duration):02d}" in progress.content
    assert (_folder(app) / "source.mp4").read_bytes() == chat_lecture.path.read_bytes()


async def test_video_without_sound_is_refused_with_a_reason(
    app: RunningBot, telegram: FakeTelegram, chat_no_audio: Path
) -> None:
    user = telegram.user(602, "Ann", language_code="ru")
    chat = telegram.private_chat(user)
    await telegram.send_video(chat, user, chat_no_audio, file_name="mute.mp4")
    progress = await telegram.wait_for_message(602, after=0)
    await telegram.wait_for(lambda: "❌" in (progress.content or ""), timeout=30)
    assert "нет звуковой дорожки" in progress.content
    assert (_folder(app) / "source.mp4").exists()


async def test_all_silent_recording_is_refused_with_a_reason(
    app: RunningBot, telegram: FakeTelegram, chat_silent: Lecture
) -> None:
    user = telegram.user(603, "Ann", language_code="en")
    chat = telegram.private_chat(user)
    await telegram.send_video(chat, user, chat_silent.path, file_name="silent.mp4")
    progress = await telegram.wait_for_message(603, after=0)
    await telegram.wait_for(lambda: "❌" in (progress.content or ""), timeout=30)
    assert "silent from start to end" in progress.content
