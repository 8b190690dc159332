"""Real files as people send them, through ``leap process``: each one trims (and where the
words matter, transcribes) instead of being refused or losing what it holds.

The recordings are in tests/data/real (see its NOTICE.md); a few variants that no public
repository offers under a licence we can use (a phone video turned on its side, a cover
picture, a damaged file) are made from them here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from leap.process import run_process
from pipeline.probe import probe

REAL = Path(__file__).resolve().parents[1] / "data" / "real"
LEAP = [sys.executable, "-m", "leap.cli"]


def _ffmpeg(*args: str | Path) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *map(str, args)], check=True)


def _frame_times(path: Path) -> list[float]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         "packet=pts_time", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return sorted(float(line) for line in out.split() if line.strip())


def _display_size(path: Path) -> tuple[int, int]:
    """Width and height as a player shows the picture (turned by its rotation)."""
    info = probe(path)
    assert info.width and info.height
    if info.rotation % 180 == 90:
        return info.height, info.width
    return info.width, info.height


def _trim(source: Path, out: Path, *, remove_pauses: bool = False) -> dict:
    assert run_process(source, out, "trim", remove_pauses=remove_pauses, lang=None) == 0
    return json.loads((out / "report.json").read_text())


def _transcribe_all(sources: dict[str, Path], root: Path, lang: str) -> dict[str, str]:
    """``leap process … --until transcribe`` on each source as an operator types it, all at
    once; the text each one heard, by name."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "TRANSCRIBE_"))}
    runs = {}
    for name, source in sources.items():
        (root / name).mkdir()
        runs[name] = subprocess.Popen(
            [*LEAP, "process", str(source), "--until", "transcribe", "--lang", lang,
             "--out", str(root / name / "out")],
            cwd=root / name, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
    heard = {}
    for name, proc in runs.items():
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()
        transcript = json.loads((root / name / "out" / "transcript.json").read_text())
        heard[name] = " ".join(s["text"] for s in transcript["segments"]).lower()
    return heard


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("real-variants")


# --- damaged, but playable -------------------------------------------------------------------


def test_an_mp4_with_damaged_bytes_in_the_middle_is_processed(made: Path, tmp_path: Path) -> None:
    source = made / "damaged.mp4"
    shutil.copyfile(REAL / "ae_example.mp4", source)
    size = source.stat().st_size
    with source.open("r+b") as fh:
        fh.seek(size // 2)
        fh.write(bytes(4096))
    # ffmpeg itself plays it: all but the two frames the broken bytes held.
    decoded = subprocess.run(
        ["ffprobe", "-v", "quiet", "-count_frames", "-select_streams", "v:0",
         "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", str(source)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert int(decoded) == 1270

    report = _trim(source, tmp_path / "out")
    video = tmp_path / "out" / "video.mp4"
    info = probe(video)
    assert info.has_video and info.has_audio
    assert info.duration == pytest.approx(report["duration"], abs=0.1)
    assert report["duration"] > 40
    # Copied, but for the second around the broken bytes, and said so.
    assert report["cut"]["video"] == "patch"
    assert report["cut"]["encoded_seconds"] < 3
    # The two broken frames are left out; every other frame is shown at its own time.
    start = report["keep"][0][0]
    src = _frame_times(source)
    out = _frame_times(video)
    kept = [t - start for t in src if start - 1e-3 <= t < report["keep"][0][1] - 1e-3]
    missing = [t for t in kept if min(abs(t - o) for o in out) > 0.002]
    assert len(out) == len(kept) - 2 and len(missing) == 2, missing
    assert all(20.8 < t + start < 21.1 for t in missing), missing


# --- browser, phone, music player, Telegram ---------------------------------------------------


def test_a_browser_recording_without_a_duration_keeps_picture_and_sound(tmp_path: Path) -> None:
    source = REAL / "tsebml_chrome57.webm"
    report = _trim(source, tmp_path / "out")
    info = probe(tmp_path / "out" / "video.mp4")
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    # The header states no duration: it is measured from the packets (about 7.5 s).
    assert report["source_duration"] == pytest.approx(7.55, abs=0.1)
    assert info.duration == pytest.approx(report["duration"], abs=0.1)
    assert info.audio_duration == pytest.approx(report["duration"], abs=0.1)


@pytest.fixture(scope="module")
def variable_rate(made: Path) -> Path:
    """A phone's variable frame rate: 30 fps, then 15 fps for four seconds, then 30 again;
    real speech under it."""
    path = made / "vfr.mp4"
    retime = "setpts='if(lt(N,60),N/30,if(lt(N,120),2+(N-60)/15,6+(N-120)/30))/TB'"
    _ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=s=160x90:r=30:d=6,{retime}",
        "-i", REAL / "ae_aac.m4a", "-map", "0:v", "-map", "1:a",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-fps_mode", "passthrough", "-c:a", "copy", path,
    )  # fmt: skip
    return path


def test_variable_frame_rate_keeps_every_frame_at_its_time(
    variable_rate: Path, tmp_path: Path
) -> None:
    report = _trim(variable_rate, tmp_path / "out")
    start, end = report["keep"][0]
    assert len(report["keep"]) == 1
    source = [t - start for t in _frame_times(variable_rate) if start - 1e-3 <= t < end - 1e-3]
    output = _frame_times(tmp_path / "out" / "video.mp4")
    assert len(output) == len(source)
    assert max(abs(a - b) for a, b in zip(output, source, strict=True)) < 0.002


@pytest.fixture(scope="module")
def phone_upright(made: Path) -> Path:
    """A phone held upright: landscape pixels with a 90° display rotation, as phones save."""
    flat = made / "flat.mp4"
    _ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=s=160x96:r=25:d=6", "-i", REAL / "ae_aac.m4a",
        "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "ultrafast",
        "-pix_fmt", "yuv420p", "-c:a", "copy", "-shortest", flat,
    )  # fmt: skip
    path = made / "upright.mp4"
    _ffmpeg("-i", flat, "-c", "copy", "-metadata:s:v:0", "rotate=90", path)
    assert probe(path).rotation in (90, 270)
    return path


def test_a_rotated_phone_video_still_plays_upright(phone_upright: Path, tmp_path: Path) -> None:
    _trim(phone_upright, tmp_path / "out")
    assert _display_size(phone_upright) == (96, 160)
    assert _display_size(tmp_path / "out" / "video.mp4") == (96, 160)


@pytest.fixture(scope="module")
def with_covers(made: Path) -> tuple[Path, Path]:
    """An MP3 and an M4A that carry an album cover, as music players and podcasts save them."""
    cover = made / "cover.jpg"
    _ffmpeg("-f", "lavfi", "-i", "color=c=red:s=300x300", "-frames:v", "1", cover)
    mp3, m4a = made / "talk.mp3", made / "talk.m4a"
    _ffmpeg(
        "-i", REAL / "tinkoff_sample_1.mp3", "-i", cover, "-map", "0:a", "-map", "1",
        "-c:a", "copy", "-c:v", "mjpeg", "-disposition:v", "attached_pic", mp3,
    )  # fmt: skip
    _ffmpeg(
        "-i", REAL / "ae_aac.m4a", "-i", cover, "-map", "0:a", "-map", "1",
        "-c:a", "copy", "-c:v", "mjpeg", "-disposition:v", "attached_pic", m4a,
    )  # fmt: skip
    return mp3, m4a


@pytest.mark.parametrize("which", [0, 1], ids=["mp3", "m4a"])
def test_a_cover_picture_is_not_a_video_track(
    with_covers: tuple[Path, Path], which: int, tmp_path: Path
) -> None:
    source = with_covers[which]
    report = _trim(source, tmp_path / "out")
    info = probe(tmp_path / "out" / "video.mp4")
    assert not info.has_video and info.audio_codec == "aac"
    assert report["cut"]["video"] == "none"
    assert info.duration == pytest.approx(probe(source).duration, abs=0.1)


@pytest.fixture(scope="module")
def phone_call(made: Path) -> Path:
    """Spoken digits as a telephone carries them: 8 kHz, mu-law."""
    path = made / "call.wav"
    _ffmpeg("-i", REAL / "vosk_test.wav", "-ar", "8000", "-ac", "1", "-c:a", "pcm_mulaw", path)
    return path


@pytest.fixture(scope="module")
def heard(phone_call: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """What speech recognition heard in the recordings whose words matter."""
    sources = {
        "phone_call": phone_call,
        "voice_note": REAL / "tgbotapi_voice.ogg",
        "two_channels": REAL / "fw_stereo_diarization.wav",
    }
    root = tmp_path_factory.mktemp("heard")
    texts = _transcribe_all(sources, root, "en")
    return {**texts, "phone_call_video": str(root / "phone_call" / "out" / "video.mp4")}


def test_8_khz_phone_audio_is_trimmed_and_heard(heard: dict[str, str]) -> None:
    text = heard["phone_call"]
    info = probe(Path(heard["phone_call_video"]))
    assert info.audio_sample_rate == 8000 and not info.has_video
    digits = sum(c.isdigit() for c in text)
    names = "zero one two three four five six seven eight nine oh".split()
    assert digits + sum(text.split().count(n) for n in names) >= 8, text


def test_a_telegram_voice_note_is_heard(heard: dict[str, str]) -> None:
    text = heard["voice_note"]
    assert "voice message" in text and "telegram" in text, text


def test_auto_editors_example_keeps_the_voice_and_drops_the_long_pause(tmp_path: Path) -> None:
    source = REAL / "ae_example.mp4"
    whole = _trim(source, tmp_path / "whole")
    # Without pause removal only the ends go; the voice runs from the start to 41 s.
    assert whole["keep"][0][0] < 0.5 and whole["keep"][-1][1] > 40
    assert whole["cut"]["video"] == "smart"
    short = _trim(source, tmp_path / "short", remove_pauses=True)
    assert len(short["keep"]) >= 2
    gaps = [b[0] - a[1] for a, b in zip(short["keep"], short["keep"][1:], strict=False)]
    # The 22 s pause (about 15 s to 38 s) is the longest stretch taken out.
    assert max(gaps) > 15
    assert short["duration"] < whole["duration"] - 15


def test_a_different_voice_on_each_channel_is_heard_whole(heard: dict[str, str]) -> None:
    # Two people at once, one on each channel: mixed, only the louder would be understood.
    text = heard["two_channels"]
    assert "horizon" in text and "distant" in text, text
    assert "wizard" in text and "curtain" in text, text
    # Each said once: the channels are not heard twice over.
    assert text.count("horizon") == 1 and text.count("wizard") == 1, text
