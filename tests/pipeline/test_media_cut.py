"""Cutting to a given keep-list: which frames are copied, and that every way stays exact."""

from __future__ import annotations

import json
import math
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from pipeline import cut as cut_module
from pipeline.cut import CutResult, cut
from pipeline.cut_plan import FrameGrid, Piece, plan_pieces
from pipeline.packets import VideoPackets, clean_prefixes
from pipeline.probe import probe
from pipeline.timeline import Timeline
from tests import synth
from tests.synth import Lecture

# Around both sync marks of the lecture (11.8 s and 27.32 s); the first part starts on a
# keyframe (every 2 s), the others in the middle of a GOP.
KEEP = Timeline.of([(2.0, 9.02), (11.1, 14.06), (26.5, 30.0)])


@pytest.fixture(scope="module")
def audio_first(lecture: Lecture, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The lecture remuxed with the sound as stream 0 and the picture as stream 1."""
    out = tmp_path_factory.mktemp("audio_first") / "audio_first.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            str(lecture.path),
            "-map",
            "0:a",
            "-map",
            "0:v",
            "-c",
            "copy",
            str(out),
        ],
        check=True,
    )
    return out


def test_whole_gops_are_copied_and_only_partial_ones_encoded() -> None:
    frames = [i / 10 for i in range(100)]  # 10 fps, keyframes every second
    grid = FrameGrid.from_packets(
        VideoPackets(
            frames=frames,
            keyframes=frames[::10],
            keyframe_dts=[t - 0.2 for t in frames[::10]],
            reorder_delay=0.2,
        ),
        duration=10.0,
    )
    assert grid.reorder_frames == 2
    spans = grid.snap(Timeline.of([(2.0, 4.53), (6.04, 6.5), (8.25, 10.0)]))
    assert spans == [(20, 45), (60, 65), (82, 100)]
    assert plan_pieces(grid, spans) == [
        Piece(20, 40, copy=True),
        Piece(40, 45, copy=False),
        Piece(60, 65, copy=False),
        Piece(82, 90, copy=False),
        Piece(90, 100, copy=True),
    ]


def _b_frame_grid() -> FrameGrid:
    """10 fps, a keyframe every second, each reference frame followed by two B-frames:
    in decoding order I0 P3 B1 B2 P6 B4 B5 P9 B7 B8 | I10 ..."""
    gop = [0, 3, 1, 2, 6, 4, 5, 9, 7, 8]
    pts = [(g + k) / 10 for k in range(0, 100, 10) for g in gop]
    dts = [n / 10 - 0.2 for n in range(100)]
    ends, ends_dts = clean_prefixes(pts, dts)
    frames = sorted(pts)
    return FrameGrid.from_packets(
        VideoPackets(
            frames=frames,
            keyframes=frames[::10],
            keyframe_dts=[t - 0.2 for t in frames[::10]],
            reorder_delay=0.2,
            clean_ends=ends,
            clean_end_dts=ends_dts,
        ),
        duration=10.0,
    )


def test_a_copy_may_end_only_where_decoding_order_has_caught_up() -> None:
    # I0 P3 B1 B2 P6 B4 B5 I7 P8: the B-frames need the reference after them.
    pts = [0, 3, 1, 2, 6, 4, 5, 7, 8]
    ends, ends_dts = clean_prefixes(pts, [n - 2 for n in range(9)])
    assert ends == [1, 4, 7, 8]
    assert ends_dts == [-1, 2, 5, 6]
    # A packet whose decoding time is unknown is no place to stop a copy.
    ends, _ = clean_prefixes(pts, [n - 2 if n != 4 else math.nan for n in range(9)])
    assert ends == [1, 7, 8]


def test_cut_points_widen_to_copyable_frames_and_never_narrow() -> None:
    grid = _b_frame_grid()
    assert grid.clean[:8].tolist() == [1, 4, 7, 10, 11, 14, 17, 20]
    spans = [(20, 45), (58, 65), (82, 100)]
    assert grid.widen(spans, reach=2) == [(20, 47), (58, 67), (80, 100)]
    assert grid.widen(spans, reach=0) == spans
    # Spans that come to touch are joined.
    assert grid.widen([(20, 45), (46, 55)], reach=2) == [(20, 57)]


def test_span_ends_are_copied_up_to_a_clean_end() -> None:
    grid = _b_frame_grid()
    assert plan_pieces(grid, [(20, 47), (58, 67), (80, 100)]) == [
        Piece(20, 47, copy=True),
        Piece(58, 60, copy=False),
        Piece(60, 67, copy=True),
        Piece(80, 100, copy=True),
    ]
    # An end that is not clean: copied to the clean end before it, the rest encoded.
    assert plan_pieces(grid, [(20, 46)]) == [Piece(20, 44, copy=True), Piece(44, 46, copy=False)]
    assert plan_pieces(grid, [(52, 56)]) == [Piece(52, 56, copy=False)]


def _expected_marks(lecture: Lecture, timeline: Timeline) -> list[float]:
    return [timeline.to_output(m) for m in lecture.marks]


@pytest.fixture(scope="module")
def smart_cut(lecture: Lecture, tmp_path_factory: pytest.TempPathFactory) -> CutResult:
    return cut(lecture.path, KEEP, tmp_path_factory.mktemp("smart_cut") / "cut.mp4")


def test_a_cut_that_starts_on_a_keyframe_copies_from_the_source_first(
    lecture: Lecture, smart_cut: CutResult
) -> None:
    result = smart_cut
    assert result.video == "smart" and result.audio == "copy"
    assert result.timeline.keep[0].start == 2.0
    assert result.info.video_frames == round(result.timeline.duration * lecture.fps)
    synth.assert_in_sync(result.path, _expected_marks(lecture, result.timeline), lecture.fps)
    synth.assert_frames_match(lecture.path, result.path, result.timeline.to_source)


def test_only_the_start_of_each_part_up_to_its_first_keyframe_is_encoded(
    lecture: Lecture, smart_cut: CutResult
) -> None:
    result = smart_cut
    # The ends, all in the middle of a GOP, moved on by at most 0.2 s to a clean end.
    for wanted, got in zip(KEEP, result.timeline, strict=True):
        assert got.start <= wanted.start + 0.5 / lecture.fps
        assert wanted.end - 0.5 / lecture.fps <= got.end <= wanted.end + 0.2 + 0.5 / lecture.fps
    to_keyframe = [
        min(math.ceil(iv.start / lecture.gop - 1e-6) * lecture.gop, iv.end) - iv.start
        for iv in result.timeline
    ]
    assert result.encoded_seconds == pytest.approx(sum(to_keyframe), abs=1e-6)
    assert result.encoded_seconds < 2.5
    assert synth.top_boxes(result.path)[:2] == [b"ftyp", b"moov"]


def test_the_index_still_goes_first_when_the_space_set_aside_is_too_small(
    lecture: Lecture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cut_module, "_moov_estimate", lambda *args: 64)
    # ffmpeg's muxer, as for every source the samples cannot be written from.
    result = cut(lecture.path, KEEP, tmp_path / "cut.mp4", own_muxer=False)
    boxes = synth.top_boxes(result.path)
    assert boxes[:2] == [b"ftyp", b"moov"] and b"mdat" in boxes
    synth.assert_in_sync(result.path, _expected_marks(lecture, result.timeline), lecture.fps)


def test_video_that_is_not_the_first_stream_is_still_smart_cut(
    lecture: Lecture, audio_first: Path, tmp_path: Path
) -> None:
    assert not probe(audio_first).video_is_first_stream
    result = cut(audio_first, KEEP, tmp_path / "cut.mp4")
    assert result.video == "smart"
    synth.assert_in_sync(result.path, _expected_marks(lecture, result.timeline), lecture.fps)
    synth.assert_frames_match(audio_first, result.path, result.timeline.to_source)


def test_full_re_encode_keeps_the_same_frames_and_sync(lecture: Lecture, tmp_path: Path) -> None:
    result = cut(lecture.path, KEEP, tmp_path / "cut.mp4", smart=False)
    assert result.video == "encode"
    assert result.encoded_seconds == pytest.approx(result.timeline.duration)
    synth.assert_in_sync(result.path, _expected_marks(lecture, result.timeline), lecture.fps)
    synth.assert_frames_match(lecture.path, result.path, result.timeline.to_source)


def test_cut_points_land_on_frame_boundaries(lecture: Lecture, tmp_path: Path) -> None:
    result = cut(lecture.path, Timeline.of([(3.013, 7.986)]), tmp_path / "cut.mp4")
    assert result.timeline.pairs() == [[pytest.approx(3.0), pytest.approx(8.0)]]
    assert probe(result.path).duration == pytest.approx(5.0, abs=0.03)


@pytest.fixture(scope="module")
def upright_phone(lecture: Lecture, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The lecture as a phone held upright stores it: pixels on their side, a display
    rotation of 90°."""
    out = tmp_path_factory.mktemp("upright") / "upright.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(lecture.path), "-c", "copy",
         "-metadata:s:v:0", "rotate=90", str(out)],
        check=True,
    )  # fmt: skip
    return out


@pytest.mark.parametrize("smart", [True, False], ids=["smart", "encode"])
def test_a_phone_video_on_its_side_still_plays_upright(
    upright_phone: Path, lecture: Lecture, tmp_path: Path, smart: bool
) -> None:
    assert probe(upright_phone).rotation in (90, 270)
    result = cut(upright_phone, KEEP, tmp_path / "out.mp4", smart=smart)
    if smart:
        # Copied, with only the starts of parts re-encoded, and still told to turn.
        assert result.video == "smart" and 0 < result.encoded_seconds < 2.5
        assert result.info.rotation == probe(upright_phone).rotation
    else:
        # Re-encoded upright.
        assert result.video == "encode" and result.info.rotation == 0
        assert (result.info.width, result.info.height) == (
            probe(lecture.path).height,
            probe(lecture.path).width,
        )
    # Every frame as a player shows it (turned) is the source's frame as a player shows it.
    synth.assert_frames_match(upright_phone, result.path, result.timeline.to_source)
    synth.assert_in_sync(result.path, _expected_marks(lecture, result.timeline), lecture.fps)


@pytest.fixture(scope="module")
def uneven_frames(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Variable frame rate as phones record it: 30 fps, but every seventh frame comes 22 ms
    early, 11 ms after the one before it."""
    out = tmp_path_factory.mktemp("uneven") / "uneven.mp4"
    retime = "setpts='(N/30-0.022*eq(mod(N\\,7)\\,3))/TB'"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"testsrc2=s=160x90:r=30:d=8,{retime}",
         "-f", "lavfi", "-i", "sine=f=440:d=8", "-map", "0:v", "-map", "1:a",
         "-c:v", "libx264", "-preset", "ultrafast", "-g", "45", "-pix_fmt", "yuv420p",
         "-fps_mode", "passthrough", "-c:a", "aac", "-shortest", str(out)],
        check=True,
    )  # fmt: skip
    return out


@pytest.mark.parametrize("smart", [True, False], ids=["smart", "encode"])
def test_unevenly_spaced_frames_are_cut_exactly(
    uneven_frames: Path, tmp_path: Path, smart: bool
) -> None:
    times = synth.frame_times(uneven_frames)
    # Parts that end just before an early frame, where half a usual frame reaches past it.
    assert [n % 7 for n in (59, 94, 150)] == [3, 3, 3]
    keep = Timeline.of([(times[10], times[59]), (times[94], times[150])])
    result = cut(uneven_frames, keep, tmp_path / "out.mp4", smart=smart, stretch=0.0)
    assert result.info.video_frames == (59 - 10) + (150 - 94)
    out_times = synth.frame_times(result.path)
    want = [result.timeline.to_output(t) for t in [*times[10:59], *times[94:150]]]
    assert np.allclose(out_times, want, atol=0.002)


def test_the_gop_around_a_broken_frame_is_re_encoded_and_the_rest_copied() -> None:
    frames = [i / 10 for i in range(100)]  # 10 fps, keyframes every second, no B-frames
    grid = FrameGrid.from_packets(
        VideoPackets(
            frames=frames,
            keyframes=frames[::10],
            keyframe_dts=frames[::10],
            reorder_delay=0.0,
            clean_ends=list(range(1, 100)),
            clean_end_dts=frames[1:],
        ),
        duration=10.0,
    )
    assert plan_pieces(grid, [(20, 80)], broken=[45, 47, 62]) == [
        Piece(20, 44, copy=True),
        # From the frame before the broken one (it must decode) to the next keyframe.
        Piece(44, 50, copy=False, exact=False),
        Piece(50, 61, copy=True),
        Piece(61, 70, copy=False, exact=False),
        Piece(70, 80, copy=True),
    ]
    # A broken frame in a stretch that is re-encoded anyway only makes it inexact.
    assert plan_pieces(grid, [(15, 40)], broken=[17]) == [
        Piece(15, 20, copy=False, exact=False),
        Piece(20, 40, copy=True),
    ]


def _break_packets(source: Path, out: Path, which: Callable[[int, dict], bool]) -> int:
    """``source`` with the first bytes of the video packets ``which`` picks zeroed, as bad
    sectors or a broken download leave them (ffmpeg still plays the rest); how many."""
    listing = subprocess.run(
        ["ffprobe", "-v", "quiet", "-select_streams", "v:0", "-show_entries",
         "packet=pts_time,pos,flags", "-of", "json", str(source)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    data = bytearray(source.read_bytes())
    count = 0
    for n, packet in enumerate(json.loads(listing)["packets"]):
        if which(n, packet):
            pos = int(packet["pos"])
            data[pos : pos + 4] = bytes(4)
            count += 1
    out.write_bytes(bytes(data))
    return count


def _shown_at_their_times(source: Path, result: CutResult) -> tuple[int, list[float]]:
    """How many output frames are not at the time of a kept source frame, and the times of
    kept frames the output lacks (source frames as ffmpeg decodes them: the broken ones
    are not among them)."""
    src = synth.frame_times(source)
    out = synth.frame_times(result.path)
    kept = [
        result.timeline.to_output(float(t))
        for t in src
        if any(iv.start - 1e-3 <= t < iv.end - 1e-3 for iv in result.timeline)
    ]
    strays = sum(1 for t in out if min(abs(t - k) for k in kept) > 0.002)
    missing = [k for k in kept if min(abs(k - t) for t in out) > 0.002]
    return strays, missing


def test_only_the_gops_around_broken_packets_are_re_encoded(
    lecture: Lecture, tmp_path: Path
) -> None:
    # Two frames inside the kept parts, neither of them a keyframe.
    times = {12.52, 28.04}
    source = tmp_path / "broken.mp4"
    hit = _break_packets(
        lecture.path,
        source,
        lambda _n, p: round(float(p["pts_time"]), 2) in times and "K" not in p["flags"],
    )
    assert hit == 2
    result = cut(source, KEEP, tmp_path / "out.mp4")
    assert result.video == "patch" and result.encoded_seconds < 2.5 + 2 * 2.0
    # Every frame that ffmpeg plays, at its own time, and nothing else.
    assert _shown_at_their_times(source, result) == (0, [])
    synth.assert_in_sync(result.path, _expected_marks(lecture, result.timeline), lecture.fps)


def test_a_recording_broken_all_over_is_re_encoded_whole(lecture: Lecture, tmp_path: Path) -> None:
    source = tmp_path / "broken.mp4"
    # One frame in three: too many to be a few bad sectors, so the whole picture is redone.
    _break_packets(lecture.path, source, lambda n, p: n % 3 == 1 and "K" not in p["flags"])
    result = cut(source, KEEP, tmp_path / "out.mp4")
    assert result.video == "repair"
    assert result.encoded_seconds == pytest.approx(result.timeline.duration)
    assert _shown_at_their_times(source, result) == (0, [])
    assert (result.info.video_frames or 0) < 0.8 * result.timeline.duration * lecture.fps
