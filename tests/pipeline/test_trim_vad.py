"""The voice-activity model: real voices are speech, tones and noise are not, and the
probabilities do not depend on how the audio is fed in."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from pipeline import vad
from pipeline.timeline import Interval
from tests import synth

REAL = Path(__file__).resolve().parents[1] / "data" / "real"


def _pcm(name: str) -> np.ndarray:
    return synth.decode_pcm(REAL / name, vad.RATE)


def test_a_recording_fed_in_odd_pieces_gets_the_probabilities_of_one_pass() -> None:
    pcm = (_pcm("whisper_jfk.flac") * 32767).astype(np.int16)
    whole = vad.speech_probabilities(pcm)
    assert whole.size == -(-pcm.size // vad.WINDOW)
    detector = vad.SpeechDetector()
    pieces = [detector.feed(pcm[i : i + 777]) for i in range(0, pcm.size, 777)]
    streamed = np.concatenate([*pieces, detector.finish()])
    np.testing.assert_allclose(streamed, whole, atol=1e-6)


@pytest.mark.parametrize(
    ("name", "first", "last"),
    [("whisper_jfk.flac", 0.3, 10.5), ("tcpp_ru.wav", 1.1, 3.7), ("ae_aac.m4a", 0.0, 6.7)],
)
def test_real_voices_in_english_and_russian_are_speech(
    name: str, first: float, last: float
) -> None:
    spans = vad.speech_spans(vad.speech_probabilities(_pcm(name)))
    assert spans, f"no speech found in {name}"
    assert spans[0].start == pytest.approx(first, abs=0.6)
    assert spans[-1].end == pytest.approx(last, abs=0.6)


def test_chords_and_noise_are_not_speech() -> None:
    t = np.arange(20 * vad.RATE) / vad.RATE
    chord = sum(0.1 * np.sin(2 * np.pi * f * t) for f in (261.63, 329.63, 392.0, 523.25))
    rng = np.random.default_rng(3)
    noise = rng.normal(0, 0.05, t.size)
    for sound in (chord, noise, chord + noise):
        assert vad.speech_spans(vad.speech_probabilities(sound.astype(np.float32))) == ()


def test_spans_bridge_short_dips_and_drop_short_blips() -> None:
    w = vad.WINDOW_SECONDS
    p = np.zeros(200, dtype=np.float32)
    p[10:40] = 0.9  # speech
    p[40:44] = 0.1  # a dip shorter than min_silence
    p[44:80] = 0.8
    p[120:123] = 0.95  # a blip shorter than min_speech
    p[150:170] = 0.45  # between the thresholds: never starts a span
    spans = vad.speech_spans(p, min_speech=0.25, min_silence=0.3)
    assert spans == (Interval(10 * w, 80 * w),)
    # Between the two thresholds speech that has started goes on.
    p[80:90] = 0.4
    assert vad.speech_spans(p)[0].end == pytest.approx(90 * w)
    assert vad.speech_spans(p, offset=100.0)[0].start == pytest.approx(100.0 + 10 * w)


def test_mean_probability_over_a_stretch() -> None:
    p = np.array([0.0, 0.0, 1.0, 1.0], dtype=np.float32)
    w = vad.WINDOW_SECONDS
    assert vad.mean_probability(p, 2 * w, 4 * w) == pytest.approx(1.0)
    assert vad.mean_probability(p, 0.0, 4 * w) == pytest.approx(0.5)
    assert vad.mean_probability(p, 10.0, 11.0) == 0.0


def test_threads_share_the_model_and_get_the_same_answer() -> None:
    pcm = _pcm("tcpp_ru.wav")
    alone = vad.speech_probabilities(pcm)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(vad.speech_probabilities, [pcm] * 8))
    for result in results:
        np.testing.assert_allclose(result, alone, atol=1e-6)


def test_only_16_khz_mono_is_read() -> None:
    with pytest.raises(ValueError):
        vad.speech_probabilities(np.zeros(1000, dtype=np.float32), rate=48_000)
    with pytest.raises(ValueError):
        vad.speech_probabilities(np.zeros((2, 1000), dtype=np.float32))
