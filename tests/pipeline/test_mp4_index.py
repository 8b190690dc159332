"""The video index read from an MP4/MOV file's own ``moov`` gives what ffprobe gives packet
by packet, and the layouts it does not read are left to ffprobe."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from pipeline import packets
from pipeline.mp4_index import read_video_index
from pipeline.probe import probe

SOURCE = ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-t", "6"]
TONE = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "6"]


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", *args], check=True)


def _made(tmp_path: Path, name: str, *args: str) -> Path:
    out = tmp_path / name
    _ffmpeg(*args, str(out))
    return out


READABLE = {
    "b-frames.mp4": [*SOURCE, *TONE, "-c:v", "libx264", "-bf", "3", "-g", "45", "-c:a", "aac"],
    "no-b-frames.mp4": [*SOURCE, "-c:v", "libx264", "-bf", "0", "-g", "60"],
    "faststart.mp4": [*SOURCE, "-c:v", "libx264", "-movflags", "+faststart"],
    "quicktime.mov": [*SOURCE, "-c:v", "libx264"],
    "timescale-1000.mp4": [*SOURCE, "-c:v", "libx264", "-video_track_timescale", "1000"],
    "mpeg4-part2.mp4": [*SOURCE, "-c:v", "mpeg4"],
    "ten-bit.mp4": [*SOURCE, "-c:v", "libx264", "-pix_fmt", "yuv420p10le"],
    "variable-rate.mp4": [
        *SOURCE,
        "-vf",
        "setpts='PTS+0.02*sin(N)/TB'",
        "-fps_mode",
        "vfr",
        "-c:v",
        "libx264",
    ],
}


@pytest.mark.parametrize("name", sorted(READABLE))
def test_own_index_is_what_ffprobe_reads(tmp_path: Path, name: str) -> None:
    video = _made(tmp_path, name, *READABLE[name])
    index = read_video_index(video)
    assert index is not None
    probed = packets._probed_index(video)
    assert index.pts.size == probed.pts.size
    np.testing.assert_allclose(index.pts, probed.pts, rtol=0, atol=2e-6)
    np.testing.assert_allclose(index.dts, probed.dts, rtol=0, atol=2e-6)
    assert np.array_equal(index.key, probed.key)
    # And so the packet index of a cut is the same whichever way it was read.
    start = probe(video).start_time
    mine = packets.read_video_packets(video, start)
    theirs = packets._packets(probed, start)
    np.testing.assert_allclose(mine.frames, theirs.frames, rtol=0, atol=2e-6)
    np.testing.assert_allclose(mine.keyframe_dts, theirs.keyframe_dts, rtol=0, atol=2e-6)
    assert mine.clean_ends == theirs.clean_ends
    assert mine.reorder_delay == pytest.approx(theirs.reorder_delay, abs=2e-6)


def test_layouts_left_to_ffprobe(tmp_path: Path) -> None:
    source = _made(tmp_path, "source.mp4", *READABLE["b-frames.mp4"])
    unread = {
        # A copy cut off the keyframes: frames before the edit, which ffmpeg hides.
        "copy-cut.mp4": ["-ss", "2.1", "-i", str(source), "-t", "2", "-c", "copy"],
        # An empty edit first: the whole track starts later.
        "offset.mp4": ["-itsoffset", "2", "-i", str(source), "-c", "copy"],
        "fragments.mp4": [
            *SOURCE,
            "-c:v",
            "libx264",
            "-movflags",
            "frag_keyframe+empty_moov",
        ],
        "matroska.mkv": [*SOURCE, "-c:v", "libx264"],
    }
    for name, args in unread.items():
        video = _made(tmp_path, name, *args)
        assert read_video_index(video) is None, name
        info = probe(video)
        # ffprobe still gives the packet index.
        assert packets.read_video_packets(video, info.start_time).keyframes, name
    audio = _made(tmp_path, "audio.m4a", *TONE, "-c:a", "aac")
    assert read_video_index(audio) is None
    not_media = tmp_path / "notes.mp4"
    not_media.write_bytes(b"not a video at all" * 100)
    assert read_video_index(not_media) is None


def test_index_that_disagrees_with_ffprobe_is_not_used(tmp_path: Path) -> None:
    video = _made(tmp_path, "b-frames.mp4", *READABLE["b-frames.mp4"])
    index = read_video_index(video)
    assert index is not None
    assert packets._agrees(video, index)
    shifted = type(index)(pts=index.pts + 0.01, dts=index.dts + 0.01, key=index.key)
    assert not packets._agrees(video, shifted)
    flags = index.key.copy()
    flags[1] = True
    assert not packets._agrees(video, type(index)(pts=index.pts, dts=index.dts, key=flags))
