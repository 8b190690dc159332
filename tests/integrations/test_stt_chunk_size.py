"""TRANSCRIBE_CHUNK_MB sets how large a chunk the speech engine may send."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

from integrations.stt import TOO_LARGE, TranscriptionError
from jobs.transcribe import engine_for
from tests.conftest import make_settings
from tests.fakes.openai import FakeOpenAI, Phrase

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def chunk_of_27_mib(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Fifteen minutes of 16 kHz WAV: larger than the 25 MB most services take."""
    path = tmp_path_factory.mktemp("big-chunk") / "asr.chunk000.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes(bytes(27 * MIB))
    return path


async def test_a_larger_chunk_setting_lets_larger_chunks_through(chunk_of_27_mib: Path) -> None:
    async with FakeOpenAI(max_upload_bytes=40 * MIB) as api:
        api.transcriber = lambda upload: [Phrase(1.0, 2.5, "A long lecture begins.")]
        settings = make_settings(
            transcribe_engine="openai",
            transcribe_base_url=api.base_url,
            transcribe_api_key=api.api_key,
            transcribe_model="whisper-1",
            transcribe_chunk_mb=30,
        )
        transcript = await engine_for(settings).transcribe([(chunk_of_27_mib, 0.0)], language="en")
        (call,) = api.calls("transcriptions")
    assert call.status == 200
    assert transcript.text() == "A long lecture begins."


async def test_a_chunk_beyond_the_setting_is_refused_before_it_is_sent(
    chunk_of_27_mib: Path,
) -> None:
    async with FakeOpenAI(max_upload_bytes=40 * MIB) as api:
        settings = make_settings(
            transcribe_engine="openai",
            transcribe_base_url=api.base_url,
            transcribe_api_key=api.api_key,
            transcribe_model="whisper-1",
            transcribe_chunk_mb=24,
        )
        with pytest.raises(TranscriptionError) as caught:
            await engine_for(settings).transcribe([(chunk_of_27_mib, 0.0)], language="en")
        assert api.calls("transcriptions") == []
    assert caught.value.code == TOO_LARGE
    assert "25.0 MB" in caught.value.detail
