"""Synthetic recordings for the media tests, made once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import synth
from tests.synth import Lecture, Mark, Silence, Speech

INTRO = "Good morning everyone. Today we talk about signals and how we sample them."
DEFINITION = "A signal is a function of time. We measure it at regular intervals."
EXAMPLE = "Here is an example. The sampling rate must be twice the highest frequency."
CLOSING = "That is all for today. Thank you for listening, and see you next week."

LECTURE = (
    Silence(6.0),
    Speech(INTRO),
    Silence(0.8),
    Mark(),
    Silence(0.6),
    Speech(DEFINITION),
    Silence(5.0),
    Speech(EXAMPLE),
    Silence(0.7),
    Mark(),
    Silence(0.5),
    Speech(CLOSING),
    Silence(7.0),
)
"""Six seconds of silence, speech with one five-second pause, seven seconds of silence;
one sync mark before the pause and one after it."""

SHORT = (Silence(5.0), Speech(INTRO), Silence(4.0), Speech(CLOSING), Silence(5.0))


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def lecture(media_dir: Path) -> Lecture:
    """H.264 (B-frames, keyframe every 2 s) + AAC in MP4, moov at the end."""
    return synth.make_lecture(media_dir / "lecture.mp4", LECTURE)


@pytest.fixture(scope="session")
def lecture_long_gop(media_dir: Path) -> Lecture:
    """H.264 without B-frames and a keyframe only every 10 s, so most cuts fall mid-GOP."""
    return synth.make_lecture(media_dir / "long_gop.mp4", LECTURE, gop=10.0, bframes=0)


@pytest.fixture(scope="session")
def lecture_webm(media_dir: Path) -> Lecture:
    return synth.make_lecture(media_dir / "lecture.webm", LECTURE, vcodec="vp9", acodec="opus")


@pytest.fixture(scope="session")
def lecture_mkv_opus(media_dir: Path) -> Lecture:
    """H.264 video (copyable) with Opus sound (not copyable into MP4) in Matroska."""
    return synth.make_lecture(media_dir / "h264_opus.mkv", LECTURE, acodec="opus")


@pytest.fixture(scope="session")
def lecture_mkv(media_dir: Path) -> Lecture:
    """H.264 + AAC in Matroska (which does not state how many audio packets there are)."""
    return synth.make_lecture(media_dir / "h264_aac.mkv", LECTURE)


@pytest.fixture(scope="session")
def quiet_in_noise(media_dir: Path) -> Lecture:
    """A quiet speaker (-35 dBFS) in a noisy room (-45 dBFS)."""
    return synth.make_lecture(
        media_dir / "quiet_noisy.mp4", LECTURE, speech_dbfs=-35.0, noise_dbfs=-45.0
    )


@pytest.fixture(scope="session")
def loud_room(media_dir: Path) -> Lecture:
    """A loud speaker (-10 dBFS) in a loud room (-25 dBFS)."""
    return synth.make_lecture(
        media_dir / "loud_room.mp4", LECTURE, speech_dbfs=-10.0, noise_dbfs=-25.0
    )


@pytest.fixture(scope="session")
def podcast(media_dir: Path) -> Lecture:
    """Audio only, AAC in M4A."""
    return synth.make_lecture(media_dir / "podcast.m4a", SHORT, video=False)


@pytest.fixture(scope="session")
def podcast_mp3(media_dir: Path) -> Lecture:
    return synth.make_lecture(media_dir / "podcast.mp3", SHORT, video=False, acodec="mp3")


@pytest.fixture(scope="session")
def silent_video(media_dir: Path) -> Lecture:
    """A video whose audio track holds only digital silence."""
    return synth.make_lecture(media_dir / "silent.mp4", SHORT, silent=True)


@pytest.fixture(scope="session")
def video_without_audio(media_dir: Path) -> Path:
    return synth.video_only(media_dir / "no_audio.mp4")


@pytest.fixture(scope="session")
def empty_file(media_dir: Path) -> Path:
    path = media_dir / "empty.mp4"
    path.write_bytes(b"")
    return path


@pytest.fixture(scope="session")
def pdf_named_mp4(media_dir: Path) -> Path:
    return synth.fake_pdf(media_dir / "slides.mp4")


@pytest.fixture(scope="session")
def truncated_mp4(media_dir: Path, lecture: Lecture) -> Path:
    return synth.truncated_copy(lecture.path, media_dir / "truncated.mp4")
