"""A smart cut written from the samples themselves (``pipeline.mp4_write``) equals what
ffmpeg's concat demuxer and muxer make of the same plan: the same pictures at the same
times, the same sound packets, index first; and the sample tables it is built from agree
with ffprobe."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from pipeline.cut import CutResult, cut
from pipeline.h264_config import Config, entry_config, pps_id, sps_id, whole_samples
from pipeline.mp4_tables import read_movie
from pipeline.probe import probe
from pipeline.timeline import Timeline
from tests import synth
from tests.synth import Lecture

KEEP = Timeline.of([(2.0, 9.02), (11.1, 14.06), (26.5, 30.0)])
SOURCE = ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-t", "12"]
TONE = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", "12"]
X264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "60"]
LAYOUTS = {
    "b-frames.mp4": [*SOURCE, *TONE, *X264, "-bf", "2", "-c:a", "aac"],
    "no-b-frames.mp4": [*SOURCE, *TONE, *X264, "-bf", "0", "-c:a", "aac"],
    "one-b-frame-faststart.mp4": [
        *SOURCE, *TONE, *X264, "-bf", "1", "-c:a", "aac", "-movflags", "+faststart",
    ],
    "quicktime.mov": [*SOURCE, *TONE, *X264, "-bf", "2", "-c:a", "aac"],
}  # fmt: skip


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", *args], check=True)


@pytest.fixture(scope="module")
def layouts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("layouts")
    made = {}
    for name, args in LAYOUTS.items():
        _ffmpeg(*args, str(folder / name))
        made[name] = folder / name
    return made


def _packets(path: Path, stream: str) -> list[dict[str, str]]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", stream, "-show_entries",
         "packet=pts,dts,pos,size,flags", "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return list(json.loads(out)["packets"])


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_sample_tables_agree_with_ffprobe(layouts: dict[str, Path], name: str) -> None:
    movie = read_movie(layouts[name])
    assert movie is not None and movie.video is not None and movie.audio is not None
    for track, stream in ((movie.video, "v:0"), (movie.audio, "a:0")):
        packets = _packets(layouts[name], stream)
        assert track.offsets.tolist() == [int(p["pos"]) for p in packets]
        assert track.sizes.tolist() == [int(p["size"]) for p in packets]
    video = _packets(layouts[name], "v:0")
    assert movie.video.pts.tolist() == [int(p["pts"]) for p in video]
    assert (movie.video.dts - movie.video.edit).tolist() == [int(p["dts"]) for p in video]
    assert movie.video.key.tolist() == ["K" in p["flags"] for p in video]


def _decoded(path: Path, stream: str) -> list[str]:
    """Each decoded frame's time and checksum (``framemd5``), header lines left out."""
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-map", f"0:{stream}", "-f", "framemd5",
         "-"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return [line for line in out.splitlines() if not line.startswith("#")]


def _copied(path: Path, stream: str) -> list[str]:
    """Each packet's times, size and checksum as stream copy reads them."""
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-map", f"0:{stream}", "-c", "copy", "-f",
         "framemd5", "-"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return [line for line in out.splitlines() if not line.startswith("#")]


def _both(source: Path, keep: Timeline, folder: Path) -> tuple[CutResult, Path]:
    """The cut written from samples, and the path of the same cut muxed by ffmpeg."""
    ours = cut(source, keep, folder / "ours.mp4")
    theirs = cut(source, keep, folder / "theirs.mp4", own_muxer=False)
    assert ours.video == theirs.video == "smart" and ours.audio == theirs.audio == "copy"
    assert ours.timeline == theirs.timeline
    assert ours.info.video_frames == theirs.info.video_frames
    return ours, theirs.path


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_a_smart_cut_written_from_samples_equals_ffmpegs(
    layouts: dict[str, Path], name: str, tmp_path: Path
) -> None:
    keep = Timeline.of([(1.03, 3.5), (4.52, 7.9), (9.1, 11.0)])
    result, theirs = _both(layouts[name], keep, tmp_path)
    ours = result.path
    assert _decoded(ours, "v:0") == _decoded(theirs, "v:0")
    assert _decoded(ours, "a:0") == _decoded(theirs, "a:0")
    assert _copied(ours, "a:0") == _copied(theirs, "a:0")
    assert synth.top_boxes(ours)[:3] == [b"ftyp", b"moov", b"mdat"]


def test_the_lecture_cut_from_samples_is_in_sync_and_shows_the_right_frames(
    lecture: Lecture, tmp_path: Path
) -> None:
    result, theirs = _both(lecture.path, KEEP, tmp_path)
    assert _decoded(result.path, "v:0") == _decoded(theirs, "v:0")
    assert _copied(result.path, "a:0") == _copied(theirs, "a:0")
    marks = [result.timeline.to_output(m) for m in lecture.marks]
    synth.assert_in_sync(result.path, marks, lecture.fps)
    synth.assert_frames_match(lecture.path, result.path, result.timeline.to_source)


def test_a_phone_video_on_its_side_keeps_its_rotation(lecture: Lecture, tmp_path: Path) -> None:
    upright = tmp_path / "upright.mp4"
    _ffmpeg("-i", str(lecture.path), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(upright))
    result, theirs = _both(upright, KEEP, tmp_path)
    assert result.info.rotation == probe(upright).rotation != 0
    assert _decoded(result.path, "v:0") == _decoded(theirs, "v:0")
    synth.assert_frames_match(upright, result.path, result.timeline.to_source)


def test_re_encoded_pieces_bring_their_own_parameter_sets(
    layouts: dict[str, Path], tmp_path: Path
) -> None:
    source = layouts["b-frames.mp4"]
    result = cut(source, Timeline.of([(1.03, 5.0)]), tmp_path / "out.mp4")
    assert result.encoded_seconds > 0
    movie = read_movie(result.path)
    assert movie is not None and movie.video is not None
    config = entry_config(movie.video.entry)
    original = entry_config(read_movie(source).video.entry)  # type: ignore[union-attr]
    assert config is not None and original is not None
    # The source's sets first and unchanged, then x264's under ids of their own.
    assert config.sps[0] == original.sps[0] and config.pps[0] == original.pps[0]
    assert len(config.sps) == len(config.pps) == 2
    assert len({sps_id(n) for n in config.sps}) == 2 and config.ids != original.ids


def test_two_configurations_that_name_different_sets_alike_are_not_joined() -> None:
    # profile 66, level 30, sps id 0; pps id 0 of sps 0
    sps = bytes([0x67, 66, 0, 30, 0xF4])
    pps = bytes([0x68, 0xCE, 0x38, 0x80])
    body = bytes([1, 66, 0, 30, 0xFF, 0xE1, 0, len(sps)]) + sps + bytes([1, 0, len(pps)]) + pps
    one = Config(body)
    assert sps_id(sps) == 0 and pps_id(pps) == 0 and one.free_id() == 1
    other_sps = sps[:4] + bytes([0xF8])  # another set, same id
    other = Config(body.replace(sps, other_sps))
    with pytest.raises(ValueError):
        one.joined(other)
    assert one.joined(one) == body


def test_broken_packets_are_found_by_their_nal_lengths(
    layouts: dict[str, Path], tmp_path: Path
) -> None:
    source = layouts["no-b-frames.mp4"]
    movie = read_movie(source)
    assert movie is not None and movie.video is not None
    video = movie.video
    assert whole_samples(source, video.offsets, video.sizes, 4).all()
    broken = tmp_path / "broken.mp4"
    data = bytearray(source.read_bytes())
    hit = [40, 41, 200]
    for n in hit:
        at = int(video.offsets[n])
        data[at : at + 4] = (10**6).to_bytes(4, "big")
    broken.write_bytes(bytes(data))
    found = np.flatnonzero(~whole_samples(broken, video.offsets, video.sizes, 4))
    assert found.tolist() == hit
