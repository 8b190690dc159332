"""Synthetic lectures: espeak-ng speech mixed with numpy, pictures from ffmpeg's lavfi.

Everything is made locally and deterministically. A :class:`Lecture` remembers where
its words are and where its sync marks are (a white video frame with a 1 kHz beep
starting on the same instant), so tests can check the trimmed result against the truth.
"""

from __future__ import annotations

import hashlib
import subprocess
import wave
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

RATE = 48_000
BEEP_HZ = 1000.0
BEEP_SECONDS = 0.12

FloatArray = npt.NDArray[np.float32]
SYNC_TOLERANCE = 0.040


@dataclass(frozen=True)
class Silence:
    seconds: float


@dataclass(frozen=True)
class Speech:
    text: str


@dataclass(frozen=True)
class Mark:
    """A sync mark: one white frame and a beep, starting on the same frame boundary."""


Part = Silence | Speech | Mark


@dataclass(frozen=True)
class Lecture:
    path: Path
    duration: float
    words: tuple[tuple[float, float], ...]
    """Where each spoken phrase is audible (first to last audible sample), in seconds."""
    marks: tuple[float, ...] = ()
    fps: int = 25
    gop: float = 2.0
    has_video: bool = True
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def first_word(self) -> float:
        return self.words[0][0]

    @property
    def last_word(self) -> float:
        return self.words[-1][1]

    @property
    def voiced_seconds(self) -> float:
        return sum(e - s for s, e in self.words)


def speak(text: str, out_wav: Path, *, speed: int = 165, voice: str = "en-us") -> FloatArray:
    """espeak-ng speech as float32 mono at :data:`RATE`, normalised to peak 1."""
    if not out_wav.exists():
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(out_wav), text],
            check=True,
            capture_output=True,
        )
    audio = decode_pcm(out_wav, RATE)
    return audio / max(float(np.abs(audio).max()), 1e-9)


def decode_pcm(path: Path, rate: int = RATE, *, stream: str = "0:a:0") -> FloatArray:
    """Any file's audio as float32 mono at ``rate``."""
    proc = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-nostdin",
            "-i",
            str(path),
            "-map",
            stream,
            "-ac",
            "1",
            "-ar",
            str(rate),
            "-f",
            "f32le",
            "pipe:1",
        ],
        check=True,
        capture_output=True,
    )
    return np.frombuffer(proc.stdout, dtype="<f4").copy()


def audible_span(
    audio: FloatArray, rate: int = RATE, *, below_peak_db: float = 40.0
) -> tuple[int, int]:
    """First and last sample of the 10 ms windows within ``below_peak_db`` of the loudest."""
    win = rate // 100
    n = len(audio) // win
    rms = np.sqrt(np.mean(audio[: n * win].reshape(n, win) ** 2, axis=1) + 1e-20)
    loud = np.flatnonzero(20 * np.log10(rms / rms.max()) > -below_peak_db)
    return int(loud[0]) * win, int(loud[-1] + 1) * win


def rms_db(audio: FloatArray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(np.square(audio, dtype=np.float64))) + 1e-20))


def make_lecture(
    out: Path,
    parts: Sequence[Part],
    *,
    speech_dbfs: float = -20.0,
    noise_dbfs: float | None = None,
    fps: int = 25,
    gop: float = 2.0,
    size: str = "320x240",
    video: bool = True,
    vcodec: str = "h264",
    acodec: str = "aac",
    bframes: int = 3,
    silent: bool = False,
    seed: int = 1,
) -> Lecture:
    """Build a lecture file from ``parts`` and describe it.

    Speech is scaled so that its audible part has RMS ``speech_dbfs``; noise (if any) is
    Gaussian with RMS ``noise_dbfs`` over the whole track. Marks are placed on frame
    boundaries. The container follows the suffix of ``out``; keyframes come every ``gop``
    seconds exactly, with ``bframes`` B-frames between references.
    """
    clips_dir = out.parent / "speech"
    clips_dir.mkdir(parents=True, exist_ok=True)
    pieces: list[FloatArray] = []
    words: list[tuple[float, float]] = []
    marks: list[float] = []
    pos = 0
    frame = RATE // fps
    gain = 10 ** (speech_dbfs / 20)
    for part in parts:
        if isinstance(part, Silence):
            n = round(part.seconds * RATE)
            pieces.append(np.zeros(n, dtype=np.float32))
        elif isinstance(part, Speech):
            name = hashlib.sha1(part.text.encode()).hexdigest()[:16] + ".wav"
            clip = speak(part.text, clips_dir / name)
            first, last = audible_span(clip)
            clip = clip * (gain / 10 ** (rms_db(clip[first:last]) / 20))
            words.append(((pos + first) / RATE, (pos + last) / RATE))
            n = len(clip)
            pieces.append(clip.astype(np.float32))
        else:
            align = (-pos) % frame
            pieces.append(np.zeros(align, dtype=np.float32))
            pos += align
            t = np.arange(round(BEEP_SECONDS * RATE)) / RATE
            beep = (0.3 * np.sin(2 * np.pi * BEEP_HZ * t)).astype(np.float32)
            marks.append(pos / RATE)
            words.append((pos / RATE, (pos + len(beep)) / RATE))
            n = len(beep)
            pieces.append(beep)
        pos += n
    # Whole frames only, so the picture and the sound end together.
    pieces.append(np.zeros((-pos) % frame, dtype=np.float32))
    audio = np.concatenate(pieces)
    if silent:
        audio[:] = 0
        words = []
    if noise_dbfs is not None:
        rng = np.random.default_rng(seed)
        audio = audio + rng.normal(0, 10 ** (noise_dbfs / 20), audio.size).astype(np.float32)
    duration = audio.size / RATE

    wav = out.with_suffix(".src.wav")
    write_wav(wav, audio)
    cmd = ["ffmpeg", "-v", "error", "-nostdin", "-y"]
    if video:
        flash = "+".join(f"eq(n,{round(m * fps)})" for m in marks) or "0"
        keyint = str(round(gop * fps))
        cmd += ["-f", "lavfi", "-i", f"testsrc2=s={size}:r={fps}:d={duration}"]
        cmd += ["-i", str(wav), "-map", "0:v", "-map", "1:a"]
        cmd += ["-vf", f"drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='{flash}'"]
        cmd += _VIDEO_CODECS[vcodec]
        cmd += ["-g", keyint, "-keyint_min", keyint, "-sc_threshold", "0", "-bf", str(bframes)]
    else:
        cmd += ["-i", str(wav), "-map", "0:a"]
    cmd += _AUDIO_CODECS[acodec]
    cmd += [str(out)]
    subprocess.run(cmd, check=True, capture_output=True)
    wav.unlink()
    return Lecture(
        path=out,
        duration=duration,
        words=tuple(words),
        marks=tuple(marks),
        fps=fps,
        gop=gop,
        has_video=video,
    )


_VIDEO_CODECS = {
    "h264": ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"],
    "vp9": ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k"],
}
_AUDIO_CODECS = {
    "aac": ["-c:a", "aac", "-b:a", "96k"],
    "opus": ["-c:a", "libopus", "-b:a", "64k"],
    "mp3": ["-c:a", "libmp3lame", "-b:a", "96k"],
}


def write_wav(path: Path, audio: FloatArray, rate: int = RATE) -> None:
    pcm = np.clip(np.round(audio * 32767), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as fh:
        fh.setnchannels(1)
        fh.setsampwidth(2)
        fh.setframerate(rate)
        fh.writeframes(pcm.tobytes())


def video_only(out: Path, seconds: float = 4.0) -> Path:
    """An H.264 MP4 without an audio track."""
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-nostdin",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=s=160x120:r=25:d={seconds}",
            "-c:v",
            "libx264",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    return out


def truncated_copy(source: Path, out: Path, fraction: float = 0.6) -> Path:
    """The first ``fraction`` of the bytes of ``source`` (an interrupted upload)."""
    data = source.read_bytes()
    out.write_bytes(data[: int(len(data) * fraction)])
    return out


def fake_pdf(out: Path) -> Path:
    out.write_bytes(
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
        b"trailer << /Root 1 0 R >>\n%%EOF\n"
    )
    return out


def frame_brightness(video: Path, *, size: str = "32x24") -> FloatArray:
    """Mean luma of every frame (tiny grey copies), in presentation order."""
    w, h = (int(v) for v in size.split("x"))
    proc = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-nostdin",
            "-i",
            str(video),
            "-map",
            "0:v:0",
            "-vf",
            f"scale={w}:{h},format=gray",
            "-fps_mode",
            "passthrough",
            "-f",
            "rawvideo",
            "pipe:1",
        ],
        check=True,
        capture_output=True,
    )
    frames = np.frombuffer(proc.stdout, dtype=np.uint8).reshape(-1, w * h)
    return frames.mean(axis=1).astype(np.float32)


def top_boxes(path: Path) -> list[bytes]:
    """The types of an MP4 file's top-level boxes, in order (``ftyp``, ``moov``, ...)."""
    kinds: list[bytes] = []
    with path.open("rb") as fh:
        while header := fh.read(16):
            size = int.from_bytes(header[:4], "big")
            if size == 1:
                size = int.from_bytes(header[8:16], "big")
            kinds.append(header[4:8])
            fh.seek(fh.tell() - len(header) + size)
    return kinds


def frame_times(video: Path) -> npt.NDArray[np.float64]:
    """Presentation times of every video frame, in order, as ffmpeg decodes them."""
    proc = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "frame=pts_time",
            "-of",
            "csv=p=0",
            str(video),
        ],
        check=True,
        capture_output=True,
    )
    fields = (line.split(",")[0].strip() for line in proc.stdout.decode().splitlines())
    times = [float(x) for x in fields if x not in ("", "N/A")]
    return np.array(sorted(times), dtype=np.float64)


def beep_onsets(audio: FloatArray, rate: int = RATE) -> list[float]:
    """Start times of the 1 kHz beeps: 5 ms blocks that are loud and almost pure 1 kHz,
    in runs at least half a beep long (speech has 1 kHz in it too, but never alone)."""
    win = rate // 200
    n = len(audio) // win
    t = np.arange(win) / rate
    ref_sin, ref_cos = np.sin(2 * np.pi * BEEP_HZ * t), np.cos(2 * np.pi * BEEP_HZ * t)
    blocks = audio[: n * win].reshape(n, win).astype(np.float64)
    tone = np.hypot(blocks @ ref_sin, blocks @ ref_cos) * 2 / win
    total = np.sqrt(2 * np.mean(blocks**2, axis=1)) + 1e-12
    on = (tone > 0.1) & (tone / total > 0.9)
    edges = np.diff(np.concatenate(([0], on.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    onsets: list[float] = []
    for s, e in zip(starts, ends, strict=True):
        if (e - s) * win < BEEP_SECONDS * rate / 2:
            continue
        # Refine to the first sample past half the beep's amplitude.
        lo = max(0, (s - 2) * win)
        above = np.flatnonzero(np.abs(audio[lo : (s + 2) * win]) > 0.15)
        onsets.append((lo + int(above[0])) / rate if above.size else s * win / rate)
    return onsets


def frame_pixels(video: Path, *, size: str = "64x48") -> FloatArray:
    """Every frame as a small grey picture (one row per frame, float), presentation order."""
    w, h = (int(v) for v in size.split("x"))
    proc = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-nostdin",
            "-i",
            str(video),
            "-map",
            "0:v:0",
            "-vf",
            f"scale={w}:{h}:flags=area,format=gray",
            "-fps_mode",
            "passthrough",
            "-f",
            "rawvideo",
            "pipe:1",
        ],
        check=True,
        capture_output=True,
    )
    return np.frombuffer(proc.stdout, dtype=np.uint8).reshape(-1, w * h).astype(np.float32)


def marks_in(video: Path) -> tuple[list[float], list[float]]:
    """Times of the white frames and of the beep onsets in ``video``."""
    brightness = frame_brightness(video)
    times = frame_times(video)
    flashes = [float(times[i]) for i in np.flatnonzero(brightness > 200)]
    beeps = beep_onsets(decode_pcm(video))
    return flashes, beeps


def assert_in_sync(video: Path, expected: Sequence[float], fps: int) -> None:
    """Each sync mark is where ``expected`` says (to half a frame), and its beep starts
    within :data:`SYNC_TOLERANCE` of its white frame."""
    flashes, beeps = marks_in(video)
    assert len(flashes) == len(expected), (flashes, expected)
    assert len(beeps) == len(expected), (beeps, expected)
    for want, flash, beep in zip(expected, flashes, beeps, strict=True):
        assert abs(flash - want) <= 0.5 / fps, f"white frame at {flash:.3f}, expected {want:.3f}"
        assert abs(beep - flash) <= SYNC_TOLERANCE, f"beep {beep:.3f} vs flash {flash:.3f}"


def assert_frames_match(source: Path, output: Path, to_source: Callable[[float], float]) -> None:
    """Every output frame shows the source frame at ``to_source(its time)``: of the source
    frames around that one, the promised frame is the closest picture.

    The middle of each output frame is mapped, so a frame that starts right on a cut
    point is looked up on the correct side of it however its time was rounded."""
    src = frame_pixels(source)
    src_times = frame_times(source)
    out = frame_pixels(output)
    out_times = frame_times(output)
    assert len(out) == len(out_times)
    half = float(np.median(np.diff(src_times))) / 2 if len(src_times) > 1 else 0.0
    for t, pixels in zip(out_times, out, strict=True):
        shown = to_source(float(t) + half) - half
        want = int(np.argmin(np.abs(src_times - shown)))
        errors = {
            k: float(np.mean((src[k] - pixels) ** 2))
            for k in range(max(want - 2, 0), min(want + 3, len(src)))
        }
        assert min(errors, key=errors.__getitem__) == want, (float(t), want, errors)
