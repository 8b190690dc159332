"""Whisper's log-mel features for a long piece, computed a slice of frames at a time.

faster-whisper turns a whole piece into features in one go, and the short-time Fourier
transform behind them holds every frame of the piece at once, as samples, as complex
spectra and as magnitudes: about 290 MB for five minutes, the largest part of the local
engine's peak memory. :class:`SlicedFeatures` computes the same numbers over slices of
:data:`SLICE_FRAMES` frames, so the extra memory is a few megabytes whatever the length.

Rules it keeps:

- **The same numbers.** Each frame is the same window of the same reflect-padded samples,
  transformed and projected onto the mel bands exactly as before; only the clamp at 8 below
  the loudest value is applied once all frames are known, since it depends on all of them.
  The transcript therefore cannot change (the tests compare the two bit for bit).
- **A drop-in.** It is a ``FeatureExtractor`` (the model reads its hop, frame length and
  sampling rate), installed on a loaded model by :func:`install`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from faster_whisper.feature_extractor import FeatureExtractor

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

SLICE_FRAMES = 3000
"""Frames per slice: 30 s of audio, the length of one Whisper window."""
_SHORTEST_SLICE = 64


class SlicedFeatures(FeatureExtractor):  # type: ignore[misc]
    """``FeatureExtractor`` whose transform holds one slice of frames at a time."""

    def __call__(
        self, waveform: npt.NDArray[Any], padding: int = 160, chunk_length: int | None = None
    ) -> npt.NDArray[np.float32]:
        if chunk_length is not None:
            self.n_samples = chunk_length * self.sampling_rate
            self.nb_max_frames = self.n_samples // self.hop_length
        samples = np.asarray(waveform, dtype=np.float32)
        if padding:
            samples = np.pad(samples, (0, padding))
        half = self.n_fft // 2
        padded = np.pad(samples, (half, half), mode="reflect")
        frames = 1 + (padded.size - self.n_fft) // self.hop_length
        # The transform's last frame is never used (as in Whisper's reference features).
        used = frames - 1
        window = np.hanning(self.n_fft + 1)[:-1].astype(np.float32)
        log_spec = np.empty((self.mel_filters.shape[0], used), dtype=np.float32)
        starts = list(range(0, used, SLICE_FRAMES))
        if len(starts) > 1 and used - starts[-1] < _SHORTEST_SLICE:
            # One frame alone is projected by another BLAS routine (a matrix-vector
            # product) whose rounding differs: a short last slice joins the one before.
            starts.pop()
        for first, stop in zip(starts, [*starts[1:], used], strict=True):
            count = stop - first
            view = np.lib.stride_tricks.as_strided(
                padded[first * self.hop_length :],
                (count, self.n_fft),
                (self.hop_length * padded.strides[0], padded.strides[0]),
                writeable=False,
            )
            spectrum = np.fft.rfft(view * window, n=self.n_fft, axis=-1).T.astype(np.complex64)
            mel = self.mel_filters @ (np.abs(spectrum) ** 2)
            log_spec[:, first : first + count] = np.log10(np.clip(mel, a_min=1e-10, a_max=None))
        np.maximum(log_spec, log_spec.max() - 8.0, out=log_spec)
        log_spec += 4.0
        log_spec /= 4.0
        return log_spec


def install(model: WhisperModel) -> None:
    """Give a loaded model the sliced extractor, with the same settings as its own."""
    own = model.feature_extractor
    if isinstance(own, SlicedFeatures):
        return
    sliced = SlicedFeatures(
        feature_size=own.mel_filters.shape[0],
        sampling_rate=own.sampling_rate,
        hop_length=own.hop_length,
        chunk_length=own.chunk_length,
        n_fft=own.n_fft,
    )
    model.feature_extractor = sliced
