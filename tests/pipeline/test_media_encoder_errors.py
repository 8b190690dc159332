"""An encoder that dies while audio is piped into it is reported in ffmpeg's own words."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline import ffmpeg_cmd
from pipeline.asr_audio import extract_asr_audio
from pipeline.errors import FFMPEG_FAILED, MediaError
from pipeline.timeline import Timeline
from tests.synth import Lecture


def test_an_unwritable_output_is_reported_with_ffmpegs_message(
    lecture: Lecture, tmp_path: Path
) -> None:
    keep = Timeline.of([(1.0, lecture.duration - 1.0)])
    with pytest.raises(MediaError) as caught:
        extract_asr_audio(lecture.path, tmp_path / "gone" / "asr.wav", keep=keep)
    assert caught.value.code == FFMPEG_FAILED
    assert "encoding" in caught.value.detail
    assert "No such file or directory" in caught.value.detail


def test_an_encoder_that_runs_out_of_room_says_so(lecture: Lecture, tmp_path: Path) -> None:
    out = tmp_path / "asr.wav"
    encode = ffmpeg_cmd.pcm_encode_cmd(out, codec=["-c:a", "pcm_s16le"], muxer="wav")
    # A 32 KiB file-size limit stands in for a full disk: writes past it fail with EFBIG
    # (the signal that would kill the encoder instead is ignored, as a full disk sends none).
    limited = ["sh", "-c", 'trap "" XFSZ; ulimit -f 64; exec "$@"', "encoder", *encode]
    samples = round(lecture.duration * ffmpeg_cmd.PCM_RATE)
    with pytest.raises(MediaError) as caught:
        ffmpeg_cmd.pipe_ranges(
            ffmpeg_cmd.pcm_cmd(lecture.path),
            limited,
            [(0, samples)],
            sample_bytes=2,
            pad_missing=False,
            what="audio for recognition",
        )
    assert caught.value.code == FFMPEG_FAILED
    assert caught.value.detail.startswith("audio for recognition: encoding: ")
    assert "File too large" in caught.value.detail
