"""Thumbnails: the frame at a time, as a JPEG."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import MediaError
from pipeline.thumbnail import extract_frame
from tests import synth
from tests.synth import Lecture


def test_the_frame_at_the_given_time_is_taken(lecture: Lecture, tmp_path: Path) -> None:
    flash = extract_frame(lecture.path, lecture.marks[0], tmp_path / "flash.jpg")
    other = extract_frame(lecture.path, lecture.marks[0] + 0.2, tmp_path / "other.jpg")
    assert synth.frame_brightness(flash)[0] > 200
    assert synth.frame_brightness(other)[0] < 200


def test_width_scales_and_a_time_past_the_end_still_gives_a_frame(
    lecture: Lecture, tmp_path: Path
) -> None:
    jpg = extract_frame(lecture.path, 10_000.0, tmp_path / "end.jpg", width=160)
    assert jpg.stat().st_size > 0
    assert synth.frame_pixels(jpg, size="16x12").shape == (1, 192)
    assert list(tmp_path.iterdir()) == [jpg]


def test_audio_only_has_no_frame(podcast: Lecture, tmp_path: Path) -> None:
    with pytest.raises(MediaError) as err:
        extract_frame(podcast.path, 1.0, tmp_path / "x.jpg")
    assert err.value.code == "no_video"
