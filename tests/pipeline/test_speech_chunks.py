"""Speech chunks from the voice-activity probabilities are faster-whisper's own, and times
in the joined audio go back to where they were said."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from faster_whisper.vad import VadOptions, get_speech_timestamps

from pipeline import asr_audio, vad
from pipeline.speech_chunks import SpeechChunks, speech_chunks
from pipeline.transcript import Segment, Word
from tests import synth

REAL = Path(__file__).resolve().parents[1] / "data" / "real"


def _samples(path: Path) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        pcm = Path(tmp) / "audio.s16"
        _, seconds = asr_audio.decode_to_pcm(path, pcm)
        return asr_audio.read_pcm(pcm, 0, round(seconds * vad.RATE))


@pytest.mark.parametrize(
    "name",
    ["pisets_test_sound_ru.wav", "ae_example.mp4", "vosk_test.wav", "tcpp_ru.wav"],
)
def test_chunks_are_faster_whispers_on_real_voices(name: str) -> None:
    samples = _samples(REAL / name)
    theirs = [(c["start"], c["end"]) for c in get_speech_timestamps(samples, VadOptions())]
    chunks = speech_chunks(vad.speech_probabilities(samples), len(samples))
    assert list(zip(chunks.starts.tolist(), chunks.ends.tolist(), strict=True)) == theirs


def test_chunks_of_a_lecture_with_pauses(tmp_path: Path) -> None:
    """Pauses shorter than two seconds stay inside a chunk, longer ones split it; every
    chunk keeps 0.4 s of sound on each side."""
    lecture = synth.make_lecture(
        tmp_path / "lecture.m4a",
        [
            synth.Silence(1.0),
            synth.Speech("First we define a signal."),
            synth.Silence(1.0),
            synth.Speech("Then we sample it."),
            synth.Silence(4.0),
            synth.Speech("Finally we look at aliasing."),
            synth.Silence(1.0),
        ],
        video=False,
    )
    samples = _samples(lecture.path)
    theirs = [(c["start"], c["end"]) for c in get_speech_timestamps(samples, VadOptions())]
    chunks = speech_chunks(vad.speech_probabilities(samples), len(samples))
    assert list(zip(chunks.starts.tolist(), chunks.ends.tolist(), strict=True)) == theirs
    assert len(chunks) == 2


def test_silence_gives_no_chunk() -> None:
    samples = np.zeros(vad.RATE * 5, dtype=np.float32)
    chunks = speech_chunks(vad.speech_probabilities(samples), len(samples))
    assert len(chunks) == 0
    assert chunks.join(samples).size == 0


def test_times_go_back_to_where_they_were_said() -> None:
    rate = vad.RATE
    chunks = SpeechChunks(
        starts=np.array([1 * rate, 10 * rate]), ends=np.array([4 * rate, 12 * rate])
    )
    joined = chunks.join(np.arange(20 * rate, dtype=np.float32))
    assert joined.size == 5 * rate
    assert joined[3 * rate] == 10 * rate  # the second chunk follows the first directly
    words = [
        Word(start=0.5, end=1.0, word=" one"),
        # Ends exactly where the first chunk does: still the first chunk's word.
        Word(start=2.6, end=3.0, word=" two"),
        Word(start=3.2, end=4.5, word=" three"),
    ]
    restored = chunks.restore(Segment(start=0.5, end=4.5, text="one two three", words=words))
    assert [(w.start, w.end) for w in restored.words or []] == [
        (1.5, 2.0),
        (3.6, 4.0),
        (10.2, 11.5),
    ]
    assert (restored.start, restored.end) == (1.5, 11.5)
    plain = chunks.restore(Segment(start=1.0, end=3.0, text="one two"))
    assert (plain.start, plain.end) == (2.0, 4.0)
    inside = chunks.within(2 * rate, 11 * rate)
    assert inside.starts.tolist() == [0, 8 * rate]
    assert inside.ends.tolist() == [2 * rate, 9 * rate]
