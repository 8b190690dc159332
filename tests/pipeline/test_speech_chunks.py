"""Speech chunks from the voice-activity probabilities are faster-whisper's own, and times
in the joined audio go back to where they were said."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

import numpy as np
import pytest
from faster_whisper.vad import VadOptions, get_speech_timestamps

from pipeline import asr_audio, vad
from pipeline.speech_chunks import SpeechChunks, speech_chunks, whisper_windows
from pipeline.transcript import Word
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
    restored = chunks.restore_words(words)
    assert [(w.start, w.end) for w in restored] == [
        (1.5, 2.0),
        (3.6, 4.0),
        (10.2, 11.5),
    ]
    assert [w.word for w in restored] == [" one", " two", " three"]
    inside = chunks.within(2 * rate, 11 * rate)
    assert inside.starts.tolist() == [0, 8 * rate]
    assert inside.ends.tolist() == [2 * rate, 9 * rate]


def _chunks(*spans: tuple[float, float]) -> SpeechChunks:
    return SpeechChunks(
        starts=np.asarray([round(a * vad.RATE) for a, _ in spans], dtype=np.int64),
        ends=np.asarray([round(b * vad.RATE) for _, b in spans], dtype=np.int64),
    )


def test_whisper_windows_close_where_chunks_meet_and_never_exceed_the_limit() -> None:
    chunks = _chunks((0.0, 12.0), (15.0, 27.0), (40.0, 50.0))
    probabilities = np.ones(round(60 / vad.WINDOW_SECONDS), dtype=np.float32)
    cuts = whisper_windows(chunks, probabilities, 30 * vad.RATE)
    # 12 + 12 fit in one window, the third chunk would not.
    assert cuts == [(0, 24 * vad.RATE), (24 * vad.RATE, 34 * vad.RATE)]


def test_a_chunk_longer_than_a_window_is_cut_where_speech_is_least_likely() -> None:
    chunks = _chunks((2.0, 72.0))
    probabilities = np.ones(round(80 / vad.WINDOW_SECONDS), dtype=np.float32)
    # Pauses between sentences at 25 s and 50 s of the original audio.
    for pause in (25.0, 50.0):
        probabilities[round(pause / vad.WINDOW_SECONDS)] = 0.05
    cuts = whisper_windows(chunks, probabilities, 30 * vad.RATE)
    assert [b - a <= 30 * vad.RATE for a, b in cuts] == [True] * len(cuts)
    assert cuts[0][0] == 0 and cuts[-1][1] == 70 * vad.RATE
    assert all(x[1] == y[0] for x, y in itertools.pairwise(cuts))
    # Each cut lands in the middle of a quiet window: 23 s and 48 s of joined audio.
    quiet = [round(p / vad.WINDOW_SECONDS) * vad.WINDOW + vad.WINDOW // 2 for p in (25.0, 50.0)]
    assert [b for _, b in cuts[:-1]] == [q - 2 * vad.RATE for q in quiet]


def test_original_times_go_to_the_joined_audio_and_back() -> None:
    chunks = _chunks((1.0, 3.0), (10.0, 12.5))
    assert chunks.joined(1.0) == 0
    assert chunks.joined(2.5) == round(1.5 * vad.RATE)
    # A time in the removed silence goes to where the next chunk starts.
    assert chunks.joined(6.0) == 2 * vad.RATE
    assert chunks.joined(11.0) == 3 * vad.RATE
    assert chunks.joined(30.0) == round(4.5 * vad.RATE)
    for t in (1.2, 2.9, 10.0, 12.4):
        assert chunks.original(chunks.joined(t) / vad.RATE) == pytest.approx(t)
    words = [Word(start=0.5, end=0.9, word=" a"), Word(start=2.2, end=2.6, word=" b")]
    restored = chunks.restore_words(words)
    assert [(w.start, w.end) for w in restored] == [(1.5, 1.9), (10.2, 10.6)]


def test_a_long_chunk_is_cut_in_the_middle_of_its_last_pause_between_sentences() -> None:
    """Whisper skips the first words of a window that starts right where speech starts, so
    the cut leaves silence on both sides, as late as a sentence ends."""
    chunks = _chunks((0.0, 50.0))
    probabilities = np.ones(round(50 / vad.WINDOW_SECONDS), dtype=np.float32)
    frame = vad.WINDOW_SECONDS
    for start, end in ((18.0, 19.0), (24.0, 24.1), (26.0, 26.6)):
        probabilities[round(start / frame) : round(end / frame)] = 0.01
    (first, cut), _ = whisper_windows(chunks, probabilities, 30 * vad.RATE)
    assert first == 0
    # 24.0–24.1 is a breath inside a sentence; 26.0–26.6 parts two sentences.
    assert cut / vad.RATE == pytest.approx(26.3, abs=0.05)
