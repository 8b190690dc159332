"""Whether a stereo recording carries a different voice on each channel, so that speech
recognition hears each channel on its own instead of the two mixed.

The rules this module keeps:

- Only sound is decoded: the first two channels of the first audio stream, at 8 kHz, for
  the first ten minutes at most. That is enough to tell, and costs little.
- Two channels carry one sound (a stereo microphone, a mono recording copied twice, a voice
  leaking into the other microphone) when their cross-correlation within 25 ms reaches
  :data:`SAME_SOUND`; then, and when one channel is 30 dB quieter than the other or
  silent, the channels are mixed as for any recording.
- The sums run without BLAS (no dot products): its threads would make a fork in another
  thread, and every ffmpeg the workers start is one, wait for them forever.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from pipeline import ffmpeg_cmd
from pipeline.probe import MediaInfo, probe

_VOICE_RATE = 8_000
_VOICE_BLOCK = 4_096
_VOICE_MAX_LAG = 0.025
_VOICE_SECONDS = 600.0
SAME_SOUND = 0.3
"""Above this peak cross-correlation, two channels carry one sound (a stereo microphone,
a mono recording copied twice, a voice leaking into the other microphone)."""
_QUIET_DB = 30.0


def channel_voices(path: Path, info: MediaInfo | None = None) -> tuple[int | None, ...]:
    """Which sound to hear for speech: ``(None,)`` for all channels mixed into one, or
    ``(0, 1)`` for each of two channels on its own.

    A stereo recording with a different voice on each channel (a phone call, an interview
    on two microphones) loses words when mixed: where both speak at once, speech
    recognition follows the louder one. So the channels are heard separately when they
    do not carry the same sound: the largest cross-correlation within 25 ms (how far
    apart two microphones of one room place one voice) stays below :data:`SAME_SOUND`.
    A channel more than 30 dB quieter than the other holds no voice of its own. The first
    ten minutes are enough to tell, read at 8 kHz with nothing decoded but the sound.
    """
    info = info or probe(path)
    if not info.has_audio or info.audio_channels != 2:
        return (None,)
    peak, balance = _channel_likeness(path)
    if peak is None or abs(balance) > _QUIET_DB or peak >= SAME_SOUND:
        return (None,)
    return (0, 1)


def _channel_likeness(path: Path) -> tuple[float | None, float]:
    """(the peak normalised cross-correlation of the two channels within the lag limit,
    left-to-right energy in dB); None when either channel is silent."""
    size = 2 * _VOICE_BLOCK
    lags = round(_VOICE_MAX_LAG * _VOICE_RATE)
    cross = np.zeros(size // 2 + 1, dtype=np.complex128)
    energy = np.zeros(2)
    cmd = ffmpeg_cmd.stereo_pcm_cmd(path, rate=_VOICE_RATE, duration=_VOICE_SECONDS)
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        **ffmpeg_cmd.child_options(),
    )
    assert proc.stdout is not None
    frame = 4 * _VOICE_BLOCK
    with proc.stdout:
        while block := proc.stdout.read(frame):
            block = block[: len(block) - len(block) % 4]
            pcm = np.frombuffer(block, dtype="<i2").astype(np.float64).reshape(-1, 2)
            left, right = pcm[:, 0], pcm[:, 1]
            # Zero-padded to twice the block: lags do not wrap round.
            cross += np.fft.rfft(left, size) * np.conj(np.fft.rfft(right, size))
            # Plain sums, not a dot product: BLAS threads make a fork in another thread
            # (every ffmpeg the workers start) wait for them forever.
            energy += (np.square(left).sum(), np.square(right).sum())
    if proc.wait() != 0 or energy.min() <= 0:
        return None, 0.0
    xcorr = np.fft.irfft(cross, size)
    near = np.concatenate([xcorr[: lags + 1], xcorr[-lags:]])
    peak = float(np.abs(near).max() / np.sqrt(energy[0] * energy[1]))
    return peak, float(10 * np.log10(energy[0] / energy[1]))
