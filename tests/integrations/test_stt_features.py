"""The sliced log-mel features are faster-whisper's own, bit for bit, with less memory."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from faster_whisper.feature_extractor import FeatureExtractor

from integrations.stt.features import SLICE_FRAMES, SlicedFeatures
from integrations.stt.local import bundled_model_path, load_model


def _speechlike(seconds: float) -> np.ndarray:
    rng = np.random.default_rng(7)
    t = np.arange(int(seconds * 16_000)) / 16_000
    tone = 0.3 * np.sin(2 * np.pi * 180 * t) * (np.sin(2 * np.pi * 3 * t) > 0)
    return (tone + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.mark.parametrize("seconds", [0.07, 7.3, 29.99, SLICE_FRAMES / 100, 30.02, 30.3, 60.0, 95.0])
def test_the_same_numbers_as_faster_whisper(seconds: float) -> None:
    audio = _speechlike(seconds)
    # To the last bit or so: where the matrix product over a slice is blocked differently
    # from the one over the whole (seen on a CPU without AVX-512), a sum may round the
    # other way; the log-mel values are around 1, so 1e-6 is a few units in the last place.
    close = {"rtol": 0.0, "atol": 1e-6}
    np.testing.assert_allclose(SlicedFeatures()(audio), FeatureExtractor()(audio), **close)
    np.testing.assert_allclose(
        SlicedFeatures()(audio, chunk_length=30),
        FeatureExtractor()(audio, chunk_length=30),
        **close,
    )


def test_memory_does_not_grow_with_the_piece() -> None:
    audio = _speechlike(300.0)
    peaks = []
    for extractor in (FeatureExtractor(), SlicedFeatures()):
        tracemalloc.start()
        extractor(audio)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    whole, sliced = peaks
    # Five minutes: the whole transform holds about 290 MB, the slices under a third of it.
    assert sliced < whole / 3


@pytest.mark.skipif(bundled_model_path() is None, reason="the bundled Whisper model is missing")
def test_the_loaded_model_uses_it() -> None:
    model = load_model(None, compute_type="int8", cpu_threads=2)
    assert isinstance(model.feature_extractor, SlicedFeatures)
    assert model.feature_extractor.nb_max_frames == FeatureExtractor().nb_max_frames
