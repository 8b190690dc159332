"""Audio for speech recognition: edited timeline, chunks within limits, cut in silence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.asr_audio import Chunk, extract_asr_audio, prepare_chunks_async, split_for_asr
from pipeline.probe import probe
from pipeline.trim import TrimResult, trim
from tests import synth
from tests.synth import Lecture

RATE = 16_000


@pytest.fixture(scope="module")
def edited(lecture: Lecture, tmp_path_factory: pytest.TempPathFactory) -> TrimResult:
    return trim(lecture.path, tmp_path_factory.mktemp("asr_trim"), remove_pauses=True)


@pytest.fixture(scope="module")
def asr_wav(edited: TrimResult) -> Path:
    return extract_asr_audio(edited.video, edited.video.parent / "asr.wav")


def _assert_cut_in_silence(whole: np.ndarray, chunks: list[Chunk]) -> None:
    loud = float(np.sqrt(np.mean(whole**2)))
    for chunk in chunks[1:]:
        at = round(chunk.offset * RATE)
        around = whole[max(at - 480, 0) : at + 480]  # 30 ms either side
        assert float(np.sqrt(np.mean(around**2))) < loud / 10, f"cut at {chunk.offset:.2f} s"


def test_asr_audio_is_16k_mono_of_the_edited_video(edited: TrimResult, asr_wav: Path) -> None:
    info = probe(asr_wav)
    assert (info.audio_sample_rate, info.audio_channels, info.has_video) == (RATE, 1, False)
    assert info.duration == pytest.approx(edited.duration, abs=0.03)


def test_keep_list_applied_to_the_source_gives_the_same_audio(
    edited: TrimResult, asr_wav: Path, lecture: Lecture, tmp_path: Path
) -> None:
    from_source = extract_asr_audio(lecture.path, tmp_path / "asr.mp3", keep=edited.timeline)
    decoded = synth.decode_pcm(from_source, RATE)
    assert decoded.size / RATE == pytest.approx(edited.duration, abs=0.03)
    expected = [edited.timeline.to_output(m) for m in lecture.marks]
    for path in (asr_wav, from_source):
        beeps = synth.beep_onsets(synth.decode_pcm(path, RATE), RATE)
        assert beeps == pytest.approx(expected, abs=0.02)


def test_chunks_fit_the_time_limit_and_rejoin_into_the_whole(asr_wav: Path, tmp_path: Path) -> None:
    chunks = split_for_asr(asr_wav, max_seconds=8.0, max_bytes=10**9, out_dir=tmp_path)
    assert len(chunks) >= 3
    whole = synth.decode_pcm(asr_wav, RATE)
    pieces = [synth.decode_pcm(c.path, RATE) for c in chunks]
    for chunk, samples in zip(chunks, pieces, strict=True):
        assert chunk.duration <= 8.0
        assert samples.size / RATE == pytest.approx(chunk.duration, abs=1 / RATE)
    assert [c.offset for c in chunks] == pytest.approx(
        [0.0, *np.cumsum([c.duration for c in chunks])[:-1]]
    )
    assert np.array_equal(np.concatenate(pieces), whole)
    _assert_cut_in_silence(whole, chunks)


def test_chunks_fit_the_size_limit(edited: TrimResult, tmp_path: Path) -> None:
    mp3 = extract_asr_audio(edited.video, tmp_path / "asr.mp3")
    limit = mp3.stat().st_size // 3
    chunks = split_for_asr(mp3, max_seconds=3600, max_bytes=limit, out_dir=tmp_path / "parts")
    assert len(chunks) >= 3
    assert all(c.path.stat().st_size <= limit for c in chunks)
    total = sum(synth.decode_pcm(c.path, RATE).size for c in chunks) / RATE
    assert total == pytest.approx(synth.decode_pcm(mp3, RATE).size / RATE, abs=0.05)
    _assert_cut_in_silence(synth.decode_pcm(mp3, RATE), chunks)


def test_audio_that_fits_is_one_chunk_of_itself(asr_wav: Path) -> None:
    (chunk,) = split_for_asr(asr_wav, max_seconds=3600, max_bytes=10**9)
    assert (chunk.path, chunk.offset) == (asr_wav, 0.0)


async def test_chunks_for_an_api_are_prepared_off_the_event_loop(
    edited: TrimResult, tmp_path: Path
) -> None:
    chunks = await prepare_chunks_async(
        edited.video, tmp_path, max_seconds=10.0, max_bytes=25 * 1024 * 1024
    )
    assert len(chunks) >= 2
    assert all(c.path.suffix == ".mp3" and c.path.parent == tmp_path for c in chunks)
    assert sum(c.duration for c in chunks) == pytest.approx(edited.duration, abs=0.05)
