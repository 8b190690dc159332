"""Cutting to a given keep-list: which frames are copied, and that every way stays exact."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pipeline.cut import FrameGrid, Piece, cut, plan_pieces
from pipeline.probe import VideoPackets, probe
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


def _expected_marks(lecture: Lecture, timeline: Timeline) -> list[float]:
    return [timeline.to_output(m) for m in lecture.marks]


def test_a_cut_that_starts_on_a_keyframe_copies_from_the_source_first(
    lecture: Lecture, tmp_path: Path
) -> None:
    result = cut(lecture.path, KEEP, tmp_path / "cut.mp4")
    assert result.video == "smart" and result.audio == "copy"
    assert result.timeline.keep[0].start == 2.0
    assert result.info.video_frames == round(result.timeline.duration * lecture.fps)
    synth.assert_in_sync(result.path, _expected_marks(lecture, result.timeline), lecture.fps)
    synth.assert_frames_match(lecture.path, result.path, result.timeline.to_source)


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
