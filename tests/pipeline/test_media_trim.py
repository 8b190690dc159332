"""The trim stage on synthetic lectures: what is cut, what is kept, and sync."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from pipeline.loudness import LevelMeter
from pipeline.packets import read_video_packets
from pipeline.probe import probe
from pipeline.timeline import Interval
from pipeline.trim import TrimResult, trim
from tests import synth
from tests.synth import Lecture


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _assert_in_sync(result: TrimResult, lecture: Lecture) -> None:
    # The marks are in the picture's own time; the file's timeline may start a little
    # earlier (an AAC priming packet in Matroska), which moves every frame later.
    info = probe(lecture.path)
    offset = read_video_packets(lecture.path, info.start_time).frames[0]
    expected = [result.timeline.to_output(m + offset) for m in lecture.marks]
    synth.assert_in_sync(result.video, expected, lecture.fps)


def _voiced_seconds(path: Path, threshold_db: float) -> float:
    meter = LevelMeter()
    meter.feed((synth.decode_pcm(path, 16_000) * 32767).astype("<i2").tobytes())
    return float(np.count_nonzero(meter.db() > threshold_db)) * 0.02


@pytest.fixture(scope="module")
def trimmed(lecture: Lecture, tmp_path_factory: pytest.TempPathFactory) -> TrimResult:
    return trim(lecture.path, tmp_path_factory.mktemp("trimmed"))


@pytest.fixture(scope="module")
def without_pauses(lecture: Lecture, tmp_path_factory: pytest.TempPathFactory) -> TrimResult:
    return trim(lecture.path, tmp_path_factory.mktemp("no_pauses"), remove_pauses=True)


def test_head_and_tail_silence_is_cut_to_within_three_seconds(
    trimmed: TrimResult, lecture: Lecture
) -> None:
    keep = trimmed.timeline.keep
    assert len(keep) == 1
    assert lecture.first_word - 3.0 <= keep[0].start <= lecture.first_word
    assert lecture.last_word <= keep[0].end <= lecture.last_word + 3.0
    assert trimmed.duration < lecture.duration - 8.0
    assert probe(trimmed.video).duration == pytest.approx(trimmed.duration, abs=0.05)


def test_every_word_survives_the_trim(trimmed: TrimResult, lecture: Lecture) -> None:
    for start, end in lecture.words:
        mapped = trimmed.timeline.to_output_interval(Interval(start, end))
        assert mapped is not None and mapped.duration == pytest.approx(end - start, abs=1e-6)
    source_voiced = _voiced_seconds(lecture.path, -45.0)
    assert source_voiced > 10
    assert _voiced_seconds(trimmed.video, -45.0) >= source_voiced - 0.1


def test_sound_and_picture_stay_together_after_head_and_tail_cut(
    trimmed: TrimResult, lecture: Lecture
) -> None:
    assert trimmed.video_method == "smart"
    _assert_in_sync(trimmed, lecture)


def test_long_pause_is_shortened_and_sync_holds_across_the_cut(
    without_pauses: TrimResult, lecture: Lecture
) -> None:
    keep = without_pauses.timeline.keep
    assert len(keep) == 2
    pause = keep[1].start - keep[0].end
    assert 3.0 <= pause <= 5.0
    gap_left = without_pauses.timeline.to_output(keep[1].start) - without_pauses.timeline.to_output(
        keep[0].end - 0.5
    )
    assert gap_left == pytest.approx(0.5, abs=0.05)
    assert without_pauses.duration < probe(lecture.path).duration - 11.0
    for start, end in lecture.words:
        mapped = without_pauses.timeline.to_output_interval(Interval(start, end))
        assert mapped is not None and mapped.duration == pytest.approx(end - start, abs=1e-6)
    _assert_in_sync(without_pauses, lecture)


def test_each_output_frame_is_the_source_frame_the_timeline_promises(
    without_pauses: TrimResult, lecture: Lecture
) -> None:
    synth.assert_frames_match(lecture.path, without_pauses.video, without_pauses.timeline.to_source)


def test_mid_gop_cuts_without_b_frames_stay_in_sync(
    lecture_long_gop: Lecture, tmp_path: Path
) -> None:
    result = trim(lecture_long_gop.path, tmp_path, remove_pauses=True)
    assert result.video_method == "smart"
    _assert_in_sync(result, lecture_long_gop)


def test_quiet_speaker_in_a_noisy_room_keeps_all_speech(
    quiet_in_noise: Lecture, tmp_path: Path
) -> None:
    result = trim(quiet_in_noise.path, tmp_path, remove_pauses=True)
    assert result.levels.noise_db < result.levels.threshold_db < result.levels.speech_db
    for start, end in quiet_in_noise.words:
        mapped = result.timeline.to_output_interval(Interval(start, end))
        assert mapped is not None and mapped.duration == pytest.approx(end - start, abs=1e-6)
    # The noise is everywhere, yet the silences around the speech still go.
    assert result.timeline.keep[0].start > quiet_in_noise.first_word - 3.0
    assert len(result.timeline) == 2


def test_loud_room_does_not_defeat_the_cut(loud_room: Lecture, tmp_path: Path) -> None:
    result = trim(loud_room.path, tmp_path, remove_pauses=True)
    assert result.timeline.keep[0].start > loud_room.first_word - 3.0
    assert result.timeline.keep[-1].end < loud_room.last_word + 3.0
    assert len(result.timeline) == 2
    for start, end in loud_room.words:
        mapped = result.timeline.to_output_interval(Interval(start, end))
        assert mapped is not None and mapped.duration == pytest.approx(end - start, abs=1e-6)


def test_webm_comes_out_as_h264_aac_mp4_in_sync(lecture_webm: Lecture, tmp_path: Path) -> None:
    result = trim(lecture_webm.path, tmp_path, remove_pauses=True)
    info = probe(result.video)
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert "mp4" in info.format_name
    assert result.video_method == "encode" and result.audio_method == "encode"
    _assert_in_sync(result, lecture_webm)


def test_copyable_video_with_foreign_sound_is_cut_in_sync(
    lecture_mkv_opus: Lecture, tmp_path: Path
) -> None:
    result = trim(lecture_mkv_opus.path, tmp_path, remove_pauses=True)
    assert (result.video_method, result.audio_method) == ("smart", "encode")
    assert probe(result.video).audio_codec == "aac"
    _assert_in_sync(result, lecture_mkv_opus)


def test_matroska_with_aac_is_cut_without_re_encoding_the_sound(
    lecture_mkv: Lecture, tmp_path: Path
) -> None:
    result = trim(lecture_mkv.path, tmp_path, remove_pauses=True)
    assert (result.video_method, result.audio_method) == ("smart", "copy")
    _assert_in_sync(result, lecture_mkv)


@pytest.mark.parametrize("name", ["podcast", "podcast_mp3"])
def test_audio_only_input_gives_an_audio_only_mp4(
    name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    podcast: Lecture = request.getfixturevalue(name)
    result = trim(podcast.path, tmp_path, remove_pauses=True)
    info = probe(result.video)
    assert (info.has_video, info.audio_codec) == (False, "aac")
    assert result.video.name == "video.mp4"
    assert len(result.timeline) == 2
    assert info.duration == pytest.approx(result.duration, abs=0.05)
    for start, end in podcast.words:
        assert result.timeline.to_output_interval(Interval(start, end)) is not None


def test_trim_leaves_the_source_alone_and_runs_twice_to_the_same_result(
    lecture: Lecture, tmp_path: Path
) -> None:
    before = _digest(lecture.path)
    first = trim(lecture.path, tmp_path)
    second = trim(lecture.path, tmp_path)
    assert _digest(lecture.path) == before
    assert first.timeline == second.timeline
    assert sorted(p.name for p in tmp_path.iterdir()) == ["video.mp4"]
