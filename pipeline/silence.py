"""Where the lecture is spoken: a voice-activity model, checked against frame loudness.

Only audio is decoded (16 kHz mono, streamed through a pipe). Kept of it are the loudness
of each 20 ms frame, the speech probability of each 32 ms window from the voice-activity
model (:mod:`pipeline.vad`) and, for pause removal, the spectral flatness of each frame;
so an hour of audio costs a few megabytes of memory here, never the samples.

The rules this module keeps:

- Speech is what the voice-activity model hears, not what is loud: music, jingles,
  noise and hum before and after a lecture are not speech however loud they are.
- A voice much quieter than the lecturer's (:data:`CHATTER_DB` below the level of the
  voiced frames) is people talking in the room, not the lecture, and is not speech.
- Where the model hears no voice at all in what was decoded (a whistled tune, a
  recording it cannot read), loudness decides, as it did before there was a model, so
  nothing spoken is ever cut for want of a voice.
- Loudness still gives the levels (noise floor, speech level, a threshold fitted to the
  recording; digital silence is left out, so a file that is silent-then-noisy is not
  misread).
- Inside the lecture, sustained sound that is not speech (:data:`MIN_SOUND` seconds or
  more) is no pause: sound loud for this recording, or tones (low spectral flatness, as
  in music; room noise is broad) not far below the voice. So pause removal never cuts
  music with a voice over it into pieces, even when the music plays throughout and
  sets the noise floor.
- Stretches that were not decoded are reported as speech (``complete`` is False), so no
  silence is ever invented. Cutting the head and tail decodes only what it needs: the
  head until the first words, the tail back from the end until the last, and a few
  samples of the middle for the lecturer's voice level (:func:`analyse_ends`).
- Stretches too quiet to hold a voice (:data:`_QUIET_PEAK`) are not given to the model,
  which costs time only where there is sound.
"""

from __future__ import annotations

import itertools
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from pipeline import ffmpeg_cmd, vad
from pipeline.errors import FFMPEG_FAILED, SILENT, MediaError
from pipeline.timeline import Interval, Timeline

FRAME = 0.02
"""Seconds per loudness frame."""

FLOOR_DB = -100.0
"""Level given to digital silence."""

_DIGITAL_SILENCE_DB = -90.0
_SILENT_BELOW_DB = -60.0
"""A recording whose loud moments are quieter than this has nobody speaking in it."""
_MIN_CONTRAST_DB = 6.0
_SHARE = 0.3
"""Where between noise floor and speech level the threshold sits."""
_HYSTERESIS_DB = 6.0

CHATTER_DB = 15.0
"""A voice whose loud frames stay this far below the lecturer's is not the lecture."""
MIN_SOUND = 1.0
"""Seconds of continuous non-speech sound inside the lecture that pause removal keeps."""
_VOICED = 0.5
"""Speech probability from which a window counts as voiced."""
_MIN_SPEECH = 0.15
"""Voiced runs shorter than this (a note of music, a click) are not speech."""
_MIN_SILENCE = 0.3
"""A voice must stop this long before a speech span ends."""
_SURE_SPEECH = 1.0
"""Seconds of the lecturer's voice after which the head search stops listening."""
_CHUNK = 1 << 17
"""Bytes of PCM read at a time (4 s): the head search looks again after each."""
_LOOK_BACK = 30.0
"""Seconds of the head search looked at again each time more is decoded."""
_TAIL_BLOCK = 30.0
"""Seconds of a tail window the model listens to at a time, from the end back."""
_TAIL_LEAD = 1.0
"""Seconds before each tail block the model listens to first, to settle."""
_TONAL = 0.08
"""Spectral flatness below which a frame holds tones (music, a voice), not noise."""
_MUSIC_BELOW_VOICE_DB = 30.0
"""Tones further than this below the voice (mains hum) are no music."""
_QUIET_PEAK = 18
"""A stretch of model windows whose peak stays below this (-65 dBFS in 16-bit samples)
holds no voice."""
_ALIGN_FRAMES = 8
"""Loudness frames (20 ms) in the shortest stretch that is also whole VAD windows (32 ms)."""

DbArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Levels:
    """What the analysis found in the recording, in dBFS."""

    noise_db: float
    speech_db: float
    threshold_db: float


@dataclass(frozen=True)
class SpeechAnalysis:
    """Spoken spans of a recording on its own (source) timeline."""

    duration: float
    speech: tuple[Interval, ...]
    levels: Levels
    complete: bool = True
    """False when only parts were decoded: stretches that were not looked at are then
    included in ``speech`` (they may hold speech), so no silence is ever invented."""
    sound: tuple[Interval, ...] = ()
    """Sustained sound that is not speech (music, a demonstration), where it was looked for
    (a complete analysis): pause removal keeps it inside the lecture."""
    method: str = "voice"
    """"voice" (the voice-activity model decided) or "loudness" (it heard no voice)."""

    @property
    def voiced_seconds(self) -> float:
        return sum(iv.duration for iv in self.speech)


class LevelMeter:
    """Accumulates s16le mono bytes into per-frame loudness without keeping the samples."""

    def __init__(self, rate: int = ffmpeg_cmd.PCM_RATE, frame: float = FRAME) -> None:
        self.rate = rate
        self.frame_len = round(rate * frame)
        self._pending = b""
        self._powers: list[npt.NDArray[np.float64]] = []
        self.samples = 0

    def feed(self, data: bytes) -> None:
        data = self._pending + data
        usable = len(data) - len(data) % (2 * self.frame_len)
        self._pending = data[usable:]
        if usable:
            pcm = np.frombuffer(data[:usable], dtype="<i2").astype(np.float32)
            frames = pcm.reshape(-1, self.frame_len)
            self._powers.append(np.einsum("ij,ij->i", frames, frames) / self.frame_len)
            self.samples += pcm.size

    def db(self) -> DbArray:
        """Loudness of every frame in dBFS, the last partial frame included."""
        powers = list(self._powers)
        if len(self._pending) >= 2:
            tail = np.frombuffer(self._pending[: len(self._pending) // 2 * 2], dtype="<i2")
            tail = tail.astype(np.float32)
            powers.append(np.array([float(np.dot(tail, tail)) / tail.size]))
        if not powers:
            return np.zeros(0)
        power = np.concatenate(powers).astype(np.float64) / (32768.0 * 32768.0)
        return np.maximum(10.0 * np.log10(np.maximum(power, 1e-12)), FLOOR_DB)

    @property
    def seconds(self) -> float:
        return (self.samples + len(self._pending) // 2) / self.rate


@dataclass(frozen=True)
class Heard:
    """What one decoded stretch of a recording holds, from ``offset`` seconds on."""

    offset: float
    db: DbArray
    """Loudness of every :data:`FRAME`, in dBFS."""
    probs: npt.NDArray[np.float32]
    """Speech probability of every :data:`pipeline.vad.WINDOW_SECONDS` window (empty when
    the model was not asked)."""
    seconds: float
    flatness: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros(0, np.float32))
    """Spectral flatness of every :data:`FRAME` between 150 Hz and 4 kHz (empty when not
    asked): near 0 for tones and chords, about 0.5 for hiss, 1 for digital silence."""

    def last(self, seconds: float) -> Heard:
        """The last ``seconds`` (or a little more) of this stretch, starting where a
        loudness frame and a model window both start."""
        frames = max(self.db.size - round(seconds / FRAME), 0) // _ALIGN_FRAMES * _ALIGN_FRAMES
        if frames == 0:
            return self
        return Heard(
            self.offset + frames * FRAME,
            self.db[frames:],
            self.probs[_windows(frames) :],
            self.seconds - frames * FRAME,
            self.flatness[frames:],
        )

    def voiced_db(self) -> DbArray:
        """Levels of the frames in which the model hears a voice."""
        if self.probs.size == 0 or self.db.size == 0:
            return np.zeros(0)
        centres = (np.arange(self.db.size) + 0.5) * FRAME
        windows = np.minimum((centres / vad.WINDOW_SECONDS).astype(np.intp), self.probs.size - 1)
        return self.db[self.probs[windows] >= _VOICED]


class Listener:
    """Accumulates s16le mono bytes into frame levels, speech probabilities and (if asked)
    spectral flatness, keeping no more than a frame of the samples."""

    def __init__(self, *, voice: bool = True, tones: bool = False) -> None:
        self.meter = LevelMeter()
        self._detector = vad.SpeechDetector() if voice else None
        self._probs: list[npt.NDArray[np.float32]] = []
        self._tones = tones
        self._flatness: list[npt.NDArray[np.float32]] = []
        self._samples = np.zeros(0, dtype=np.float32)
        self._window_part = np.zeros(0, dtype=np.int16)
        self._odd = b""

    def feed(self, data: bytes) -> None:
        self.meter.feed(data)
        if self._detector is None and not self._tones:
            return
        data = self._odd + data
        even = len(data) - len(data) % 2
        self._odd = data[even:]
        pcm = np.frombuffer(data[:even], dtype="<i2")
        if self._detector is not None:
            self._listen(pcm)
        if self._tones:
            samples = np.concatenate((self._samples, pcm.astype(np.float32) / 32768.0))
            whole = samples.size - samples.size % self.meter.frame_len
            self._samples = samples[whole:]
            if whole:
                self._flatness.append(_flatness(samples[:whole].reshape(-1, self.meter.frame_len)))

    def _listen(self, pcm: npt.NDArray[np.int16]) -> None:
        """Whole model windows go to the model, except a run of them too quiet to hold
        a voice: it costs nothing, and the model starts afresh after it."""
        assert self._detector is not None
        samples = np.concatenate((self._window_part, pcm)) if self._window_part.size else pcm
        whole = samples.size - samples.size % vad.WINDOW
        self._window_part = samples[whole:].copy()
        if whole == 0:
            return
        windows = samples[:whole]
        if int(np.abs(windows.astype(np.int32)).max()) < _QUIET_PEAK:
            self._probs.append(np.zeros(whole // vad.WINDOW, dtype=np.float32))
            self._detector = vad.SpeechDetector()
        else:
            self._probs.append(self._detector.feed(windows))

    def heard(self, offset: float = 0.0, *, final: bool = True) -> Heard:
        """All that was heard; ``final=False`` looks without ending the stream (the
        partial last model window is left out)."""
        probs = np.zeros(0, dtype=np.float32)
        if self._detector is not None:
            last: list[npt.NDArray[np.float32]] = []
            if final and self._window_part.size:
                last = [self._detector.feed(self._window_part), self._detector.finish()]
                self._window_part = self._window_part[:0]
            probs = np.concatenate([probs, *self._probs, *last])
        flatness = np.zeros(0, dtype=np.float32)
        if self._tones:
            parts = self._flatness
            if self._samples.size:
                last = np.zeros((1, self.meter.frame_len), dtype=np.float32)
                last[0, : self._samples.size] = self._samples
                parts = [*parts, _flatness(last)]
            flatness = np.concatenate(parts) if parts else flatness
        return Heard(offset, self.meter.db(), probs, self.meter.seconds, flatness)


def _flatness(frames: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Spectral flatness (geometric over arithmetic mean of the power) of each frame, in
    the band where music and voices have their tones and room noise is broad."""
    n = frames.shape[1]
    window = np.hanning(n).astype(np.float32)
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2
    lo, hi = round(150 * n / ffmpeg_cmd.PCM_RATE), round(4000 * n / ffmpeg_cmd.PCM_RATE)
    band = power[:, lo : hi + 1] + 1e-10
    flat = np.exp(np.mean(np.log(band), axis=1)) / np.mean(band, axis=1)
    return flat.astype(np.float32)


def listen(
    source: Path,
    *,
    start: float | None = None,
    duration: float | None = None,
    voice: bool = True,
    tones: bool = False,
) -> Heard:
    """Decode the first audio stream of ``source`` (or ``duration`` seconds of it from
    ``start``) and measure it; with ``voice`` the voice-activity model listens too, with
    ``tones`` the spectral flatness of each frame is kept."""
    cmd = ffmpeg_cmd.pcm_cmd(source, start=start, duration=duration)
    return _listen_cmd(cmd, start or 0.0, voice=voice, tones=tones)


def measure(
    source: Path,
    *,
    start: float | None = None,
    duration: float | None = None,
    extra_outputs: Sequence[str] = (),
) -> tuple[DbArray, float]:
    """Decode the first audio stream of ``source`` and return (frame levels, seconds decoded).

    ``extra_outputs`` are further ffmpeg outputs written in the same pass over the file.
    """
    cmd = ffmpeg_cmd.pcm_cmd(source, start=start, duration=duration, extra_outputs=extra_outputs)
    heard = _listen_cmd(cmd, start or 0.0, voice=False)
    return heard.db, heard.seconds


def listen_split(
    source: Path,
    duration: float,
    *,
    parts: int = 2,
    lead: float = 1.0,
    shortest: float = 60.0,
    voice: bool = True,
    tones: bool = False,
) -> Heard:
    """:func:`listen` to the whole first audio stream, decoded in ``parts`` stretches at
    once (one per core) and joined.

    Each stretch after the first starts decoding about ``lead`` seconds early and drops
    that lead, so nothing is measured right after a seek (an AAC decoder needs one packet
    to settle, the voice-activity model a few windows). Stretches meet where loudness
    frames and model windows both begin, so the joined levels are frame for frame those
    of one pass, give or take a sample. A recording with less than ``shortest`` seconds
    per stretch is decoded in one pass.
    """
    frames = int(duration / FRAME)
    if parts < 2 or frames < parts * round(shortest / FRAME):
        return listen(source, voice=voice, tones=tones)
    step = _ALIGN_FRAMES
    cuts = [round(frames * k / parts / step) * step for k in range(parts)]
    lead_frames = max(round(lead / FRAME / step), 1) * step
    spans: list[tuple[float | None, float | None, int]] = []
    for k, first in enumerate(cuts):
        skip = min(lead_frames, first)
        start = (first - skip) * FRAME if first else None
        length = (cuts[k + 1] - first + skip) * FRAME if k + 1 < parts else None
        spans.append((start, length, skip))
    with ThreadPoolExecutor(max_workers=parts) as pool:
        jobs = [
            pool.submit(listen, source, start=a, duration=n, voice=voice, tones=tones)
            for a, n, _ in spans
        ]
        decoded = [job.result() for job in jobs]
    levels: list[DbArray] = []
    probs: list[npt.NDArray[np.float32]] = []
    flatness: list[npt.NDArray[np.float32]] = []
    for k, (heard, (_, _, skip)) in enumerate(zip(decoded, spans, strict=True)):
        db, p, flat = heard.db[skip:], heard.probs[_windows(skip) :], heard.flatness[skip:]
        if k + 1 < parts:
            # A sample more or less at the end of a stretch makes a partial last frame.
            want = cuts[k + 1] - cuts[k]
            db, flat = _fit(db, want), _fit(flat, want if tones else 0)
            p = _fit(p, _windows(want) if voice else 0)
        levels.append(db)
        probs.append(p)
        flatness.append(flat)
    tail_seconds = decoded[-1].seconds - spans[-1][2] * FRAME
    return Heard(
        0.0,
        np.concatenate(levels),
        np.concatenate(probs).astype(np.float32),
        cuts[-1] * FRAME + tail_seconds,
        np.concatenate(flatness).astype(np.float32),
    )


def _fit(values: npt.NDArray[Any], size: int) -> npt.NDArray[Any]:
    """``values`` cut or padded (repeating the last) to ``size``."""
    if values.size >= size:
        return values[:size]
    if values.size == 0:
        return np.zeros(size, dtype=values.dtype)
    return np.pad(values, (0, size - values.size), mode="edge")


def measure_split(
    source: Path,
    duration: float,
    *,
    parts: int = 2,
    lead: float = 1.0,
    shortest: float = 60.0,
) -> tuple[DbArray, float]:
    """:func:`measure` of the whole first audio stream, in ``parts`` stretches at once
    (see :func:`listen_split`)."""
    heard = listen_split(source, duration, parts=parts, lead=lead, shortest=shortest, voice=False)
    return heard.db, heard.seconds


def _listen_cmd(cmd: list[str], offset: float, *, voice: bool, tones: bool = False) -> Heard:
    listener = Listener(voice=voice, tones=tones)
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=err,
            stdin=subprocess.DEVNULL,
            **ffmpeg_cmd.child_options(),
        )
        assert proc.stdout is not None
        with proc.stdout:
            while chunk := proc.stdout.read(_CHUNK):
                listener.feed(chunk)
        if proc.wait() != 0:
            err.seek(0)
            raise MediaError(FFMPEG_FAILED, "decoding audio: " + ffmpeg_cmd.last_line(err.read()))
    return listener.heard(offset)


def _windows(frames: int) -> int:
    """Model windows in ``frames`` loudness frames (a multiple of :data:`_ALIGN_FRAMES`)."""
    return round(frames * FRAME / vad.WINDOW_SECONDS)


def estimate_levels(db: DbArray) -> Levels:
    """Fit noise floor, speech level and threshold to one recording's frame levels.

    Raises ``MediaError("silent")`` when nothing in the recording is loud enough to be
    speech. When speech and noise cannot be told apart (one constant level), the
    threshold sits just below that level, so nothing but digital silence is cut.
    """
    sound = db[db > _DIGITAL_SILENCE_DB]
    if sound.size < round(0.5 / FRAME):
        raise MediaError(SILENT, "the audio track is silent")
    noise, speech = (float(v) for v in np.percentile(sound, [10.0, 95.0]))
    if speech < _SILENT_BELOW_DB:
        raise MediaError(SILENT, f"the loudest sound is {speech:.0f} dBFS")
    if speech - noise < _MIN_CONTRAST_DB:
        return Levels(noise, speech, noise - _MIN_CONTRAST_DB)
    threshold = noise + max(_SHARE * (speech - noise), 3.0)
    return Levels(noise, speech, threshold)


def find_speech(
    db: DbArray, levels: Levels, *, bridge: float = 0.3, shortest: float = 0.06
) -> tuple[Interval, ...]:
    """Spans where the level passes the threshold.

    A span grows while the level stays within a few dB below the threshold (onsets and
    decays of words), gaps shorter than ``bridge`` are closed, and isolated spans shorter
    than ``shortest`` (clicks) are dropped.
    """
    if db.size == 0:
        return ()
    loud = db > levels.threshold_db
    # Never let the lower threshold reach into the noise floor itself.
    margin = min(_HYSTERESIS_DB, 0.5 * (levels.threshold_db - levels.noise_db))
    near = db > levels.threshold_db - max(margin, 0.0)
    starts, ends = _runs(near)
    loud_before = np.concatenate(([0], np.cumsum(loud)))
    has_loud = loud_before[ends] - loud_before[starts] > 0
    starts, ends = starts[has_loud], ends[has_loud]
    if starts.size == 0:
        return ()
    gap_frames = round(bridge / FRAME)
    keep_start = np.concatenate(([True], starts[1:] - ends[:-1] > gap_frames))
    keep_end = np.concatenate((keep_start[1:], [True]))
    starts, ends = starts[keep_start], ends[keep_end]
    long_enough = ends - starts >= max(round(shortest / FRAME), 1)
    return tuple(
        Interval(float(s) * FRAME, float(e) * FRAME)
        for s, e in zip(starts[long_enough], ends[long_enough], strict=True)
    )


def voice_level(heard: Sequence[Heard]) -> float | None:
    """The lecturer's level: a high percentile of the frames in which the model hears a
    voice (the lecturer is nearest the microphone); None when it hears none."""
    voiced = np.concatenate([h.voiced_db() for h in heard]) if heard else np.zeros(0)
    if voiced.size < round(_MIN_SPEECH / FRAME):
        return None
    return float(np.percentile(voiced, 90.0))


def voice_spans(heard: Heard, voice_db: float) -> tuple[Interval, ...]:
    """The lecture's speech in one stretch: what the model hears, less voices that stay
    :data:`CHATTER_DB` below ``voice_db``, on the recording's timeline."""
    spans = vad.speech_spans(
        heard.probs, min_speech=_MIN_SPEECH, min_silence=_MIN_SILENCE, offset=heard.offset
    )
    end = heard.offset + heard.seconds
    kept: list[Interval] = []
    for iv in spans:
        a = max(int((iv.start - heard.offset) / FRAME), 0)
        b = min(int(np.ceil((iv.end - heard.offset) / FRAME)), heard.db.size)
        if b <= a or float(np.percentile(heard.db[a:b], 90.0)) < voice_db - CHATTER_DB:
            continue
        if iv.start < end:
            kept.append(Interval(iv.start, min(iv.end, end)))
    return tuple(kept)


def _speech_in(heard: Heard, voice_db: float | None, levels: Levels) -> tuple[Interval, ...]:
    """Speech spans of one stretch: by voice when there is a voice, else by loudness."""
    if voice_db is not None:
        return voice_spans(heard, voice_db)
    end = heard.offset + heard.seconds
    return tuple(
        Interval(iv.start, min(iv.end, end))
        for iv in _shifted(find_speech(heard.db, levels), heard.offset)
        if iv.start < end
    )


def analyse_heard(heard: Heard) -> SpeechAnalysis:
    """Speech spans of a whole recording, and the sustained sound between them."""
    levels = estimate_levels(heard.db)
    voice_db = voice_level([heard])
    speech = _speech_in(heard, voice_db, levels)
    if not speech:
        raise MediaError(SILENT, "no speech found")
    sound: tuple[Interval, ...] = ()
    if voice_db is not None:
        # Loud for this recording, or tonal and not far below the voice (music under a
        # voice is often quieter than the voice and, playing throughout, sets the floor).
        loud = find_speech(heard.db, levels, bridge=_MIN_SILENCE)
        tonal = _spans_of(
            (heard.flatness < _TONAL)
            & (heard.db[: heard.flatness.size] >= voice_db - _MUSIC_BELOW_VOICE_DB),
            bridge=_MIN_SILENCE,
        )
        others = Timeline.of(speech).removed(heard.seconds)
        sound = Timeline.of(
            Interval(a, b)
            for iv in (*loud, *tonal)
            for gap in others
            if (b := min(iv.end, gap.end)) - (a := max(iv.start, gap.start)) >= MIN_SOUND
        ).keep
    return SpeechAnalysis(
        duration=heard.seconds,
        speech=speech,
        levels=levels,
        sound=sound,
        method="voice" if voice_db is not None else "loudness",
    )


def analyse_levels(db: DbArray, duration: float) -> SpeechAnalysis:
    """Speech spans of a recording from its frame levels alone (loudness, no voice)."""
    levels = estimate_levels(db)
    speech = tuple(Interval(iv.start, min(iv.end, duration)) for iv in find_speech(db, levels))
    speech = tuple(iv for iv in speech if iv.duration > 0)
    if not speech:
        raise MediaError(SILENT, "no speech found")
    return SpeechAnalysis(duration=duration, speech=speech, levels=levels, method="loudness")


def analyse(source: Path, *, tones: bool = True) -> SpeechAnalysis:
    """Decode and analyse the first audio stream of ``source`` in one pass; without
    ``tones`` no ``sound`` is looked for (cutting the head and tail needs none)."""
    return analyse_heard(listen(source, tones=tones))


def analyse_split(source: Path, duration: float, *, parts: int = 2) -> SpeechAnalysis:
    """:func:`analyse` with the decoding and listening spread over ``parts`` cores."""
    return analyse_heard(listen_split(source, duration, parts=parts, tones=True))


def analyse_ends(
    source: Path,
    duration: float,
    *,
    window: float = 120.0,
    samples: int = 4,
    sample_seconds: float = 8.0,
) -> SpeechAnalysis:
    """Find the first and the last speech without decoding the whole recording.

    For cutting the head and tail only the two ends matter. A few short samples spread
    through the middle give the lecturer's voice level (and the noise's); then, at once,
    the head is listened to from the start until the lecture's first speech, and the tail
    in windows from the end (``window`` seconds, then twice as much each time) until its
    last. The middle that was not decoded is reported as one span of ``speech`` (it may
    hold speech) and ``complete`` is False. Recordings shorter than a few windows, and
    recordings whose samples hold no voice, are analysed whole.
    """
    if duration <= 3 * window:
        return analyse(source, tones=False)
    step = (duration - 2 * window) / samples
    middle = [(window + (k + 0.5) * step, sample_seconds) for k in range(samples)]
    # The samples, the head and the tail at once; the ends wait for the voice level from
    # the samples only when they first hear a voice.
    with ThreadPoolExecutor(max_workers=3) as pool:
        sample_job = pool.submit(
            _listen_cmd, ffmpeg_cmd.pcm_spans_cmd(source, middle), window, voice=True
        )

        def voice() -> float | None:
            return voice_level([sample_job.result()])

        head_job = pool.submit(_head_speech, source, voice)
        tail_job = pool.submit(_tail_speech, source, duration, voice, window)
        sampled = sample_job.result()
        head, head_heard, head_end = head_job.result()
        tail, tail_heard, tail_start = tail_job.result()
    if voice() is None:
        return analyse(source, tones=False)
    levels = estimate_levels(np.concatenate([sampled.db, *(h.db for h in head_heard + tail_heard)]))
    if not head or not tail:
        return analyse(source, tones=False)  # the samples heard a voice the ends did not reach
    unknown = [Interval(head_end, tail_start)] if tail_start > head_end else []
    speech = Timeline.of([*head, *unknown, *tail]).keep
    return SpeechAnalysis(duration=duration, speech=speech, levels=levels, complete=not unknown)


def _head_speech(
    source: Path, voice: Callable[[], float | None]
) -> tuple[list[Interval], list[Heard], float]:
    """The lecture's speech at the head: decode from the start and stop as soon as the
    first speech of the lecturer's voice is heard whole (or has lasted a while).

    Returns the speech, what was heard, and where the head's verdict ends."""
    listener = Listener()
    heard = listener.heard(final=False)
    found: list[Interval] = []
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            ffmpeg_cmd.pcm_cmd(source),
            stdout=subprocess.PIPE,
            stderr=err,
            stdin=subprocess.DEVNULL,
            **ffmpeg_cmd.child_options(),
        )
        assert proc.stdout is not None
        # Set when the listening ends before the audio does: ffmpeg, whose pipe is then
        # closed under it, may exit with an error that says nothing about the file.
        stopped = True
        try:
            with proc.stdout:
                while chunk := proc.stdout.read(_CHUNK):
                    listener.feed(chunk)
                    heard = listener.heard(final=False)
                    end = heard.offset + heard.seconds
                    # Speech that began earlier would have been found at an earlier look.
                    recent = heard.last(_LOOK_BACK)
                    if not np.any(recent.probs >= _VOICED):
                        continue
                    voice_db = voice()
                    if voice_db is None:
                        break
                    found = [
                        iv
                        for iv in voice_spans(recent, voice_db)
                        if iv.end < end - _MIN_SILENCE or iv.duration >= _SURE_SPEECH
                    ]
                    if found:
                        break
                else:
                    stopped = False
        finally:
            if proc.poll() is None:
                proc.kill()
            code = proc.wait()
        if stopped:
            # What follows the last speech heard whole is left undecided, not silence.
            return found, [heard], found[-1].end if found else heard.offset + heard.seconds
        if code != 0:
            err.seek(0)
            raise MediaError(FFMPEG_FAILED, "decoding audio: " + ffmpeg_cmd.last_line(err.read()))
    heard = listener.heard()
    voice_db = voice()
    spans = list(voice_spans(heard, voice_db)) if voice_db is not None else []
    return spans, [heard], heard.offset + heard.seconds


def _tail_speech(
    source: Path, duration: float, voice: Callable[[], float | None], window: float
) -> tuple[list[Interval], list[Heard], float]:
    """The lecture's speech at the tail: windows from the end, each twice the last, until
    one holds the lecturer's voice. The model listens to a window in blocks from its end
    back and stops at the first block with the voice in it, so a long tail of music or
    chatter costs it little.

    Returns the speech, what was heard, and where the tail's verdict starts."""
    heard_all: list[Heard] = []
    end = duration
    length = window
    while end > 0:
        start = max(end - length, 0.0)
        pcm = _decode(source, start, end - start)
        meter = LevelMeter()
        meter.feed(pcm.tobytes())
        db = meter.db()
        heard_all.append(Heard(start, db, np.zeros(0, np.float32), meter.seconds))
        block = round(_TAIL_BLOCK / (FRAME * _ALIGN_FRAMES)) * _ALIGN_FRAMES * meter.frame_len
        lead = round(_TAIL_LEAD / (FRAME * _ALIGN_FRAMES)) * _ALIGN_FRAMES * meter.frame_len
        top = pcm.size
        while top > 0:
            bottom = (top - 1) // block * block  # blocks start on frames and windows
            if int(np.abs(pcm[bottom:top].astype(np.int32)).max(initial=0)) >= _QUIET_PEAK:
                first = max(bottom - lead, 0)
                probs = vad.speech_probabilities(pcm[first:top])[(bottom - first) // vad.WINDOW :]
                if np.any(probs >= _VOICED):
                    voice_db = voice()
                    if voice_db is None:
                        return [], heard_all, start
                    frames = bottom // meter.frame_len
                    heard = Heard(
                        start + frames * FRAME,
                        db[frames : -(-top // meter.frame_len)],
                        probs,
                        (top - bottom) / ffmpeg_cmd.PCM_RATE,
                    )
                    found = list(voice_spans(heard, voice_db))
                    if found:
                        # The speech after the block ends within the window's end.
                        return found, heard_all, heard.offset
            top = bottom
        end, length = start, 2 * length
    return [], heard_all, 0.0


def _decode(source: Path, start: float, duration: float) -> npt.NDArray[np.int16]:
    """``duration`` seconds of the first audio stream from ``start``, as 16 kHz mono."""
    proc = subprocess.run(
        ffmpeg_cmd.pcm_cmd(source, start=start, duration=duration),
        capture_output=True,
        stdin=subprocess.DEVNULL,
        check=False,
        **ffmpeg_cmd.child_options(),
    )
    if proc.returncode != 0:
        raise MediaError(FFMPEG_FAILED, "decoding audio: " + ffmpeg_cmd.last_line(proc.stderr))
    data = proc.stdout
    return np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2")


def _spans_of(mask: npt.NDArray[np.bool_], *, bridge: float) -> list[Interval]:
    """Runs of True frames as spans, gaps shorter than ``bridge`` closed."""
    starts, ends = _runs(mask)
    if starts.size == 0:
        return []
    gap = round(bridge / FRAME)
    join = starts[1:] - ends[:-1] <= gap
    starts = starts[np.concatenate(([True], ~join))]
    ends = ends[np.concatenate((~join, [True]))]
    return [
        Interval(a * FRAME, b * FRAME) for a, b in zip(starts.tolist(), ends.tolist(), strict=True)
    ]


def _shifted(spans: Sequence[Interval], offset: float) -> list[Interval]:
    return [Interval(iv.start + offset, iv.end + offset) for iv in spans]


def keep_intervals(
    speech: Sequence[Interval],
    duration: float,
    *,
    pad: float = 1.0,
    remove_pauses: bool = False,
    pause_min: float = 3.0,
    pause_keep: float = 1.0,
    sound: Sequence[Interval] = (),
) -> Timeline:
    """The keep-list for a recording with the given speech spans.

    Always from the first word minus ``pad`` to the last word plus ``pad``. With
    ``remove_pauses``, every silence between words longer than ``pause_min`` is
    shortened to ``pause_keep`` (half of it kept after the last word, half before the
    next one); ``sound`` between the first and the last word (music under a voice) is
    no silence.
    """
    if not speech:
        raise MediaError(SILENT, "no speech found")
    if pause_keep < 0 or pause_min < pause_keep:
        raise ValueError("need 0 <= pause_keep <= pause_min")
    start = max(0.0, speech[0].start - pad)
    end = min(duration, speech[-1].end + pad)
    if not remove_pauses:
        return Timeline.of([Interval(start, end)])
    first, last = speech[0].start, speech[-1].end
    inner = [
        Interval(max(iv.start, first), min(iv.end, last))
        for iv in sound
        if iv.end > first and iv.start < last
    ]
    heard = Timeline.of([*speech, *inner]).keep
    keep: list[Interval] = []
    pos = start
    half = pause_keep / 2
    for prev, nxt in itertools.pairwise(heard):
        if nxt.start - prev.end > pause_min:
            keep.append(Interval(pos, prev.end + half))
            pos = nxt.start - half
    keep.append(Interval(pos, end))
    return Timeline.of(keep)


def _runs(mask: npt.NDArray[np.bool_]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Start and end (exclusive) frame indexes of each run of True."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
