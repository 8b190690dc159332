"""Where people speak: frame loudness of decoded PCM and a threshold fitted to the recording.

Only audio is decoded (16 kHz mono, streamed through a pipe), and only the loudness of
each 20 ms frame is kept, so an hour of audio costs about a megabyte of memory here.

The threshold adapts to the recording. The noise floor is a low percentile of the
frame levels and the speech level a high one (digital silence is left out of both, so
a file that is silent-then-noisy is not misread); speech is whatever rises a fixed
share of the way from the floor to the speech level. A quiet speaker in a noisy room
and a loud speaker in a loud room are both measured against their own room.
"""

from __future__ import annotations

import itertools
import subprocess
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from pipeline import ffmpeg_cmd
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
    return _measure_cmd(cmd)


def measure_split(
    source: Path,
    duration: float,
    *,
    parts: int = 2,
    lead: float = 1.0,
    shortest: float = 60.0,
) -> tuple[DbArray, float]:
    """:func:`measure` of the whole first audio stream, decoded in ``parts`` stretches at
    once (one per core) and joined.

    Each stretch after the first starts decoding ``lead`` seconds early and drops that
    lead, so no frame is measured right after a seek (an AAC decoder needs one packet
    to settle). Stretches meet on frame boundaries, so the joined levels are frame for
    frame those of one pass, give or take a sample. A recording with less than
    ``shortest`` seconds per stretch is decoded in one pass.
    """
    frames = int(duration / FRAME)
    if parts < 2 or frames < parts * round(shortest / FRAME):
        return measure(source)
    cuts = [round(frames * k / parts) for k in range(parts)]
    lead_frames = round(lead / FRAME)
    spans: list[tuple[float | None, float | None, int]] = []
    for k, first in enumerate(cuts):
        skip = min(lead_frames, first)
        start = (first - skip) * FRAME if first else None
        length = (cuts[k + 1] - first + skip) * FRAME if k + 1 < parts else None
        spans.append((start, length, skip))
    with ThreadPoolExecutor(max_workers=parts) as pool:
        jobs = [pool.submit(measure, source, start=a, duration=n) for a, n, _ in spans]
        decoded = [job.result() for job in jobs]
    pieces: list[DbArray] = []
    for k, ((db, _), (_, _, skip)) in enumerate(zip(decoded, spans, strict=True)):
        db = db[skip:]
        if k + 1 < parts:
            want = cuts[k + 1] - cuts[k]
            # A sample more or less at the end of a stretch makes a partial last frame.
            db = db[:want] if db.size >= want else np.pad(db, (0, want - db.size), mode="edge")
        pieces.append(db)
    tail_seconds = decoded[-1][1] - spans[-1][2] * FRAME
    return np.concatenate(pieces), cuts[-1] * FRAME + tail_seconds


def _measure_cmd(cmd: list[str]) -> tuple[DbArray, float]:
    meter = LevelMeter()
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
            while chunk := proc.stdout.read(1 << 20):
                meter.feed(chunk)
        if proc.wait() != 0:
            err.seek(0)
            raise MediaError(FFMPEG_FAILED, "decoding audio: " + ffmpeg_cmd.last_line(err.read()))
    return meter.db(), meter.seconds


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


def analyse_levels(db: DbArray, duration: float) -> SpeechAnalysis:
    """Speech spans of a recording from its frame levels."""
    levels = estimate_levels(db)
    speech = tuple(Interval(iv.start, min(iv.end, duration)) for iv in find_speech(db, levels))
    speech = tuple(iv for iv in speech if iv.duration > 0)
    if not speech:
        raise MediaError(SILENT, "no speech found")
    return SpeechAnalysis(duration=duration, speech=speech, levels=levels)


def analyse(source: Path) -> SpeechAnalysis:
    """Decode and analyse the first audio stream of ``source``."""
    db, seconds = measure(source)
    return analyse_levels(db, seconds)


def analyse_ends(
    source: Path,
    duration: float,
    *,
    window: float = 300.0,
    samples: int = 6,
    sample_seconds: float = 8.0,
) -> SpeechAnalysis:
    """Find the first and the last speech without decoding the whole recording.

    For cutting the head and tail only the two ends matter, so this decodes a window at
    each end and a few short samples spread through the middle (for the speech level);
    a window with no speech in it grows towards the middle until speech turns up. The
    middle that was not decoded is reported as one span of ``speech`` (it may hold
    speech) and ``complete`` is False. Recordings shorter than a few windows are
    analysed whole.
    """
    if duration <= 4 * window:
        return analyse(source)
    step = (duration - 2 * window) / samples
    middle = [(window + (k + 0.5) * step, sample_seconds) for k in range(samples)]
    # Two at a time: the samples, one process with an input per sample, wait for a free
    # core instead of adding their memory to the two windows'.
    with ThreadPoolExecutor(max_workers=2) as pool:
        head_job = pool.submit(measure, source, start=0.0, duration=window)
        tail_job = pool.submit(measure, source, start=duration - window, duration=window)
        middle_job = pool.submit(_measure_cmd, ffmpeg_cmd.pcm_spans_cmd(source, middle))
        decoded = [head_job.result(), tail_job.result(), middle_job.result()]
    levels = estimate_levels(np.concatenate([db for db, _ in decoded]))

    head_db, head_len = decoded[0]
    tail_db, _ = decoded[1]
    head = _shifted(find_speech(head_db, levels), 0.0)
    head_end = head_len
    tail_start = duration - window
    tail = _shifted(find_speech(tail_db, levels), tail_start)
    grow = window
    while not head and head_end < tail_start:
        grow *= 2
        length = min(grow, tail_start - head_end)
        db, seconds = measure(source, start=head_end, duration=length)
        head = _shifted(find_speech(db, levels), head_end)
        head_end += max(seconds, length)
    grow = window
    while not tail and tail_start > head_end:
        grow *= 2
        start = max(head_end, tail_start - grow)
        db, _ = measure(source, start=start, duration=tail_start - start)
        tail = _shifted(find_speech(db, levels), start)
        tail_start = start
    if not head and not tail:
        raise MediaError(SILENT, "no speech found")
    unknown = [Interval(head_end, tail_start)] if head and tail and tail_start > head_end else []
    speech = Timeline.of([*head, *unknown, *tail]).keep
    return SpeechAnalysis(duration=duration, speech=speech, levels=levels, complete=not unknown)


def _shifted(spans: Sequence[Interval], offset: float) -> list[Interval]:
    return [Interval(iv.start + offset, iv.end + offset) for iv in spans]


def detect_silence(analysis: SpeechAnalysis) -> list[Interval]:
    """The silent spans of the recording: everything that is not speech."""
    return Timeline.of(analysis.speech).removed(analysis.duration)


def keep_intervals(
    speech: Sequence[Interval],
    duration: float,
    *,
    pad: float = 1.0,
    remove_pauses: bool = False,
    pause_min: float = 3.0,
    pause_keep: float = 1.0,
) -> Timeline:
    """The keep-list for a recording with the given speech spans.

    Always from the first word minus ``pad`` to the last word plus ``pad``. With
    ``remove_pauses``, every silence between words longer than ``pause_min`` is
    shortened to ``pause_keep`` (half of it kept after the last word, half before the
    next one).
    """
    if not speech:
        raise MediaError(SILENT, "no speech found")
    if pause_keep < 0 or pause_min < pause_keep:
        raise ValueError("need 0 <= pause_keep <= pause_min")
    start = max(0.0, speech[0].start - pad)
    end = min(duration, speech[-1].end + pad)
    if not remove_pauses:
        return Timeline.of([Interval(start, end)])
    keep: list[Interval] = []
    pos = start
    half = pause_keep / 2
    for prev, nxt in itertools.pairwise(speech):
        if nxt.start - prev.end > pause_min:
            keep.append(Interval(pos, prev.end + half))
            pos = nxt.start - half
    keep.append(Interval(pos, end))
    return Timeline.of(keep)


def _runs(mask: npt.NDArray[np.bool_]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Start and end (exclusive) frame indexes of each run of True."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
