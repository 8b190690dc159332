"""Silence analysis, keep-lists, and the audio bookkeeping of the cut."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from pipeline import loudness, silence
from pipeline.cut_audio import adts_frame_offsets, choose_packets
from pipeline.errors import MediaError
from pipeline.timeline import Interval, Timeline
from tests.synth import Lecture


def _levels(pattern: list[tuple[float, float]]) -> silence.DbArray:
    """Frame levels from (seconds, dBFS) pieces, with a little jitter."""
    rng = np.random.default_rng(3)
    parts = [np.full(round(sec / loudness.FRAME), db) for sec, db in pattern]
    return np.concatenate(parts) + rng.normal(0, 0.5, sum(p.size for p in parts))


def test_threshold_sits_between_a_noisy_rooms_floor_and_a_quiet_voice() -> None:
    db = _levels([(5, -50), (10, -33), (3, -50), (10, -34), (5, -50)])
    levels = silence.estimate_levels(db)
    assert -50 < levels.threshold_db < -34
    speech = silence.find_speech(db, levels)
    assert [(round(iv.start), round(iv.end)) for iv in speech] == [(5, 15), (18, 28)]


def test_a_loud_room_still_has_silences() -> None:
    db = _levels([(5, -28), (10, -10), (4, -28), (10, -11), (5, -28)])
    speech = silence.find_speech(db, silence.estimate_levels(db))
    assert [(round(iv.start), round(iv.end)) for iv in speech] == [(5, 15), (19, 29)]


def test_digital_silence_does_not_drag_the_noise_floor_down() -> None:
    db = _levels([(20, -100), (3, -45), (6, -25), (3, -45), (20, -100)])
    levels = silence.estimate_levels(db)
    assert levels.noise_db > -50
    speech = silence.find_speech(db, levels)
    assert [(round(iv.start), round(iv.end)) for iv in speech] == [(23, 29)]


def test_nothing_loud_enough_is_silent() -> None:
    with pytest.raises(MediaError) as err:
        silence.estimate_levels(_levels([(30, -100)]))
    assert err.value.code == "silent"
    with pytest.raises(MediaError):
        silence.estimate_levels(_levels([(30, -72)]))


def test_one_constant_level_keeps_everything_but_digital_silence() -> None:
    db = _levels([(2, -100), (30, -30), (2, -100)])
    speech = silence.find_speech(db, silence.estimate_levels(db))
    assert [(round(iv.start), round(iv.end)) for iv in speech] == [(2, 32)]


def test_keep_list_pads_head_and_tail() -> None:
    speech = [Interval(10.0, 20.0), Interval(30.0, 40.0)]
    keep = silence.keep_intervals(speech, 60.0, pad=1.0)
    assert keep.pairs() == [[9.0, 41.0]]
    assert silence.keep_intervals([Interval(0.3, 59.8)], 60.0).pairs() == [[0.0, 60.0]]


def test_only_pauses_longer_than_the_minimum_are_shortened() -> None:
    speech = [Interval(10.0, 20.0), Interval(22.0, 30.0), Interval(40.0, 50.0)]
    keep = silence.keep_intervals(
        speech, 60.0, pad=1.0, remove_pauses=True, pause_min=3.0, pause_keep=1.0
    )
    assert keep.pairs() == [[9.0, 30.5], [39.5, 51.0]]
    kept_pause = keep.to_output(40.0) - keep.to_output(30.0)
    assert kept_pause == pytest.approx(1.0)


def test_analysis_of_the_ends_matches_the_whole(lecture: Lecture) -> None:
    whole = silence.analyse(lecture.path)
    ends = silence.analyse_ends(lecture.path, lecture.duration, window=8.0, samples=3)
    assert ends.speech[0].start == pytest.approx(whole.speech[0].start, abs=0.1)
    assert ends.speech[-1].end == pytest.approx(whole.speech[-1].end, abs=0.1)
    # What was not decoded is never reported as silence: every silence found at the
    # ends is a silence of the whole recording too.
    assert not ends.complete
    whole_silences = Timeline.of(whole.speech).removed(lecture.duration)
    for gap in Timeline.of(ends.speech).removed(lecture.duration):
        assert any(s.start - 0.1 <= gap.start and gap.end <= s.end + 0.1 for s in whole_silences), (
            gap
        )


def test_levels_decoded_in_stretches_join_into_those_of_one_pass(lecture: Lecture) -> None:
    whole, seconds = silence.measure(lecture.path)
    joined, joined_seconds = silence.measure_split(
        lecture.path, lecture.duration, parts=3, shortest=5.0
    )
    assert joined.size == whole.size
    assert joined_seconds == pytest.approx(seconds, abs=0.001)
    assert np.abs(joined - whole).max() < 0.5
    assert silence.analyse_levels(joined, joined_seconds).speech == pytest.approx(
        silence.analyse_levels(whole, seconds).speech
    )


def test_adts_frames_are_found_across_read_blocks(lecture: Lecture, tmp_path: Path) -> None:
    adts = tmp_path / "track.aac"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            str(lecture.path),
            "-map",
            "0:a",
            "-c",
            "copy",
            "-f",
            "adts",
            str(adts),
        ],
        check=True,
    )
    whole = adts_frame_offsets(adts)
    assert whole is not None and len(whole) > 100
    assert adts_frame_offsets(adts, block_size=97) == whole
    (tmp_path / "junk.aac").write_bytes(b"\x00" * 100)
    assert adts_frame_offsets(tmp_path / "junk.aac") is None


def test_copied_audio_never_drifts_more_than_half_a_packet() -> None:
    frame = 1024 / 44100
    rng = np.random.default_rng(5)
    cuts = np.sort(rng.uniform(0, 600, 200))
    timeline = Timeline.of(list(zip(cuts[::2], cuts[1::2], strict=True)))
    first = -frame
    ranges = choose_packets(timeline, first, frame, count=round(600 / frame))
    audio_pos = 0.0
    for (i, j), iv, out_start in zip(ranges, timeline, timeline.output_starts, strict=True):
        error = audio_pos - (out_start + (first + i * frame) - iv.start)
        assert abs(error) <= frame / 2 + 1e-9
        audio_pos += (j - i) * frame
    assert abs(audio_pos - timeline.duration) <= frame
