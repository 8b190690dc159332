"""Probing, and every kind of bad input turned into a MediaError that leaves it alone."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from pipeline.errors import CODES, MediaError
from pipeline.packets import keyframe_times
from pipeline.probe import container_state, probe, probe_async
from pipeline.trim import trim
from tests.synth import Lecture


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_probe_describes_a_lecture(lecture: Lecture) -> None:
    info = probe(lecture.path)
    assert info.duration == pytest.approx(lecture.duration, abs=0.05)
    assert (info.has_video, info.has_audio) == (True, True)
    assert (info.width, info.height, info.fps) == (320, 240, 25.0)
    assert (info.video_codec, info.audio_codec, info.audio_sample_rate) == ("h264", "aac", 48000)
    assert info.size == lecture.path.stat().st_size
    assert "mp4" in info.format_name


def test_probe_describes_webm_and_audio_only(lecture_webm: Lecture, podcast: Lecture) -> None:
    webm = probe(lecture_webm.path)
    assert (webm.video_codec, webm.audio_codec) == ("vp9", "opus")
    audio = probe(podcast.path)
    assert (audio.has_video, audio.has_audio, audio.width) == (False, True, None)


async def test_probe_async_agrees_with_probe(lecture: Lecture) -> None:
    assert await probe_async(lecture.path) == probe(lecture.path)


async def test_probe_async_raises_the_same_errors(pdf_named_mp4: Path) -> None:
    with pytest.raises(MediaError) as err:
        await probe_async(pdf_named_mp4)
    assert err.value.code == "not_media"


def test_keyframes_come_every_gop(lecture: Lecture) -> None:
    keys = keyframe_times(lecture.path)
    assert keys[0] == 0.0
    assert keys[1:4] == pytest.approx([2.0, 4.0, 6.0], abs=1e-3)


@pytest.mark.parametrize(
    ("fixture", "code"),
    [("empty_file", "empty"), ("pdf_named_mp4", "not_media"), ("truncated_mp4", "truncated")],
)
def test_unreadable_files_are_refused_by_probe(
    fixture: str, code: str, request: pytest.FixtureRequest
) -> None:
    path: Path = request.getfixturevalue(fixture)
    with pytest.raises(MediaError) as err:
        probe(path)
    assert err.value.code == code


def test_a_truncated_faststart_mp4_is_still_truncated(lecture: Lecture, tmp_path: Path) -> None:
    import subprocess

    faststart = tmp_path / "faststart.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            str(lecture.path),
            "-c",
            "copy",
            "-movflags",
            "+faststart",
            str(faststart),
        ],
        check=True,
    )
    assert container_state(faststart) == "complete"
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(faststart.read_bytes()[: faststart.stat().st_size * 6 // 10])
    with pytest.raises(MediaError) as err:
        probe(cut)
    assert err.value.code == "truncated"


@pytest.mark.parametrize(
    ("fixture", "code", "kwargs"),
    [
        ("empty_file", "empty", {}),
        ("pdf_named_mp4", "not_media", {}),
        ("truncated_mp4", "truncated", {}),
        ("video_without_audio", "no_audio", {}),
        ("silent_video", "silent", {}),
        ("lecture", "too_long", {"max_duration": 10.0}),
    ],
)
def test_bad_input_raises_its_code_and_leaves_the_source_alone(
    fixture: str,
    code: str,
    kwargs: dict[str, float],
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    value = request.getfixturevalue(fixture)
    path: Path = value.path if isinstance(value, Lecture) else value
    before = _digest(path)
    out = tmp_path / "out"
    with pytest.raises(MediaError) as err:
        trim(path, out, **kwargs)
    assert err.value.code == code
    assert code in CODES
    assert path.exists() and _digest(path) == before
    assert not (out / "video.mp4").exists()
    assert not out.exists() or not any(out.iterdir())


def test_voices_are_heard_per_channel_only_when_the_channels_differ(tmp_path: Path) -> None:
    from pipeline.channels import channel_voices

    real = Path(__file__).resolve().parents[1] / "data" / "real"
    assert channel_voices(real / "fw_stereo_diarization.wav") == (0, 1)
    # One voice: in a mono file, copied into both channels, or reaching two microphones
    # a fraction of a millisecond apart, or leaking into the other speaker's microphone.
    same = {
        "copied": "pan=stereo|c0=c0|c1=c0",
        "two_microphones": "pan=stereo|c0=c0|c1=0.7*c0,adelay=0|2",
    }
    for name, graph in same.items():
        out = tmp_path / f"{name}.wav"
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-i", str(real / "whisper_jfk.flac"), "-af", graph,
             str(out)],
            check=True,
        )  # fmt: skip
        assert channel_voices(out) == (None,), name
    leak = tmp_path / "leak.wav"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(real / "fw_stereo_diarization.wav"),
         "-af", "pan=stereo|c0=c0+0.4*c1|c1=c1+0.4*c0", str(leak)],
        check=True,
    )  # fmt: skip
    assert channel_voices(leak) == (None,)
    assert channel_voices(real / "vosk_test.wav") == (None,)
