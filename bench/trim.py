"""Benchmark of the trim stage against the usual ffmpeg recipe (and auto-editor, if present).

    .venv/bin/python -m bench.trim [--minutes 60] [--cache .cache/bench]

Synthesises a lecture of the given length once (1280x720 H.264 + AAC stereo: a few
minutes of silence at the head and tail, a five-minute body of speech with pauses,
repeated), then times, each in a fresh process so peak memory is its own:

- ``ours``: :func:`pipeline.trim.trim`, head and tail only;
- ``ours --remove-pauses``: the same with pause removal;
- ``baseline``: MP3 64 kbps 16 kHz mono, ``silencedetect`` at -40 dB on it, then a
  stream-copy cut from the first to the last sound;
- ``auto-editor``: when it is installed.

One run each; the numbers are seconds of wall time on this machine.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import wave
from pathlib import Path

import numpy as np

from tests import synth

HEAD_SILENCE = 180.0
TAIL_SILENCE = 240.0
BODY_SECONDS = 300.0
TEXTS = (
    "Today we continue with the theory of signals. A signal carries information about "
    "the behaviour of a system, and we describe it as a function of time.",
    "When we sample a signal, we keep its values at regular instants. The sampling "
    "theorem tells us how often we must measure to lose nothing at all.",
    "Let us look at an example on the board. Suppose the highest frequency is ten "
    "kilohertz; then we need at least twenty thousand samples every second.",
    "Now a question from the audience: what happens if we sample too slowly? The "
    "answer is aliasing, and we will see it in the next experiment.",
)
VIDEO_ARGS = [
    "-c:v",
    "libx264",
    "-preset",
    "ultrafast",
    "-tune",
    "stillimage",
    "-b:v",
    "1200k",
    "-maxrate",
    "1500k",
    "-bufsize",
    "3000k",
    "-bf",
    "2",
    "-g",
    "250",
    "-keyint_min",
    "250",
    "-sc_threshold",
    "0",
    "-pix_fmt",
    "yuv420p",
]
AUDIO_ARGS = ["-c:a", "aac", "-b:a", "128k", "-ac", "2", "-ar", "48000"]


def build_lecture(minutes: float, cache: Path) -> Path:
    """A ``minutes``-long 720p lecture, made once and kept in ``cache``.

    The picture is three segments joined by stream copy; the sound is one continuous
    AAC encode, as a recorder would write it.
    """
    out = cache / f"lecture_{minutes:g}min.mp4"
    if out.exists():
        return out
    cache.mkdir(parents=True, exist_ok=True)
    repeats = max(1, round((minutes * 60 - HEAD_SILENCE - TAIL_SILENCE) / BODY_SECONDS))
    body_audio = _body_audio(cache)
    wav = cache / "sound.wav"
    with wave.open(str(wav), "wb") as fh:
        fh.setnchannels(1)
        fh.setsampwidth(2)
        fh.setframerate(synth.RATE)
        fh.writeframes(bytes(2 * round(HEAD_SILENCE * synth.RATE)))
        body_pcm = np.clip(np.round(body_audio * 32767), -32768, 32767).astype("<i2").tobytes()
        for _ in range(repeats):
            fh.writeframes(body_pcm)
        fh.writeframes(bytes(2 * round(TAIL_SILENCE * synth.RATE)))
    parts = [
        _video_segment(cache / "head.mp4", HEAD_SILENCE),
        *[_video_segment(cache / "body.mp4", BODY_SECONDS)] * repeats,
        _video_segment(cache / "tail.mp4", TAIL_SILENCE),
    ]
    listing = cache / "parts.ffconcat"
    listing.write_text("ffconcat version 1.0\n" + "".join(f"file '{p}'\n" for p in parts))
    tmp = out.with_suffix(".part.mp4")
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-nostdin",
            "-y",
            "-f",
            "concat",
            "-safe",
            "0",
            "-i",
            str(listing),
            "-i",
            str(wav),
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-c:v",
            "copy",
            *AUDIO_ARGS,
            "-shortest",
            str(tmp),
        ],
        check=True,
    )
    tmp.rename(out)
    wav.unlink()
    return out


def _body_audio(cache: Path) -> np.ndarray:
    """Five minutes of speech: phrases with short pauses, a long pause every minute."""
    rng = np.random.default_rng(7)
    clips = [synth.speak(text, cache / f"speech{i}.wav") * 0.3 for i, text in enumerate(TEXTS)]
    pieces: list[np.ndarray] = []
    total = 0
    target = round(BODY_SECONDS * synth.RATE)
    n = 0
    while total < target:
        clip = clips[n % len(clips)]
        pause = 8.0 if n % 6 == 5 else float(rng.uniform(0.4, 1.5))
        for piece in (clip, np.zeros(round(pause * synth.RATE), np.float32)):
            pieces.append(piece.astype(np.float32))
            total += piece.size
        n += 1
    audio = np.concatenate(pieces)[:target]
    noise = rng.normal(0, 10 ** (-60 / 20), audio.size).astype(np.float32)
    return audio + noise


def _video_segment(out: Path, seconds: float) -> Path:
    if not out.exists():
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
                f"testsrc2=s=1280x720:r=30:d={seconds}",
                *VIDEO_ARGS,
                str(out),
            ],
            check=True,
        )
    return out


# --- the contenders, each run in a child process --------------------------------------------


def run_ours(source: Path, out_dir: Path, remove_pauses: bool) -> dict[str, object]:
    from pipeline.trim import trim

    result = trim(source, out_dir, remove_pauses=remove_pauses)
    return {
        "duration": result.duration,
        "cuts": len(result.timeline),
        "video": result.video_method,
        "audio": result.audio_method,
    }


def run_baseline(source: Path, out_dir: Path) -> dict[str, object]:
    mp3 = out_dir / "audio.mp3"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-nostdin",
            "-y",
            "-i",
            str(source),
            "-vn",
            "-ac",
            "1",
            "-ar",
            "16000",
            "-b:a",
            "64k",
            str(mp3),
        ],
        check=True,
    )
    detect = subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-nostdin",
            "-i",
            str(mp3),
            "-af",
            "silencedetect=n=-40dB:d=2",
            "-f",
            "null",
            "-",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    starts = [float(x) for x in re.findall(r"silence_start: (-?[\d.]+)", detect.stderr)]
    ends = [float(x) for x in re.findall(r"silence_end: ([\d.]+)", detect.stderr)]
    first = ends[0] if starts and starts[0] <= 0.5 and ends else 0.0
    last = starts[-1] if len(starts) > len(ends) else None
    cmd = ["ffmpeg", "-v", "error", "-nostdin", "-y", "-ss", f"{first:.3f}", "-i", str(source)]
    if last is not None:
        cmd += ["-t", f"{last - first:.3f}"]
    subprocess.run([*cmd, "-c", "copy", str(out_dir / "video.mp4")], check=True)
    return {"duration": (last or 0.0) - first}


def run_auto_editor(source: Path, out_dir: Path) -> dict[str, object]:
    exe = shutil.which("auto-editor")
    cmd = [exe] if exe else [sys.executable, "-m", "auto_editor"]
    subprocess.run(
        [*cmd, str(source), "--no-open", "-o", str(out_dir / "video.mp4")],
        check=True,
        capture_output=True,
    )
    return {}


class TreeMemory:
    """Peak memory (PSS) of this process and all its descendants together, sampled.

    ``ru_maxrss`` cannot give this on Linux: a child started with fork/exec inherits
    the parent's high-water mark, so every ffmpeg would report the Python parent's size.
    """

    def __init__(self, interval: float = 0.05) -> None:
        self.peak_kb = 0
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, _tree_rss_kb(os.getpid()))
            self._stop.wait(self._interval)


def _tree_rss_kb(root: int) -> int:
    """Proportional set size (shared library pages split between their users) of the
    process tree under ``root``."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            parents[int(entry.name)] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    total = 0
    for pid in parents:
        p = pid
        while p and p != root:
            p = parents.get(p, 0)
        if p != root:
            continue
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
                    break
        except OSError:
            continue
    return total


def _own_peak_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _child(name: str, source: Path) -> None:
    """Run one contender and print its timing and peak memory as JSON."""
    with (
        tempfile.TemporaryDirectory(prefix="bench-", dir=source.parent) as tmp,
        TreeMemory() as memory,
    ):
        out_dir = Path(tmp)
        started = time.perf_counter()
        if name == "ours":
            extra = run_ours(source, out_dir, remove_pauses=False)
        elif name == "ours-pauses":
            extra = run_ours(source, out_dir, remove_pauses=True)
        elif name == "baseline":
            extra = run_baseline(source, out_dir)
        else:
            extra = run_auto_editor(source, out_dir)
        seconds = time.perf_counter() - started
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    report = {
        "seconds": seconds,
        "self_mb": _own_peak_kb() / 1024,
        "tree_mb": memory.peak_kb / 1024,
        "child_mb": children,
        **extra,
    }
    print(json.dumps(report))


def _auto_editor_available() -> bool:
    if shutil.which("auto-editor"):
        return True
    probe = subprocess.run(
        [sys.executable, "-c", "import auto_editor"], capture_output=True, check=False
    )
    return probe.returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--cache", type=Path, default=Path(".cache/bench"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--source", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.source)
        return

    print(f"building a {args.minutes:g}-minute 1280x720 lecture (cached) ...", flush=True)
    source = build_lecture(args.minutes, args.cache.resolve())
    duration = float(
        subprocess.run(
            [
                "ffprobe",
                "-v",
                "error",
                "-show_entries",
                "format=duration",
                "-of",
                "csv=p=0",
                str(source),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    names = ["baseline", "ours", "ours-pauses"]
    if _auto_editor_available():
        names.append("auto-editor")
    results: dict[str, dict[str, float]] = {}
    for name in names:
        _drop_caches_hint(source)
        proc = subprocess.run(
            [sys.executable, "-m", "bench.trim", "--child", name, "--source", str(source)],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        )
        if proc.returncode != 0:
            print(f"{name}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
            continue
        results[name] = json.loads(proc.stdout.strip().splitlines()[-1])

    base = results.get("baseline", {}).get("seconds")
    print()
    print(f"trim benchmark, {datetime.date.today()}, {_machine()}")
    print(f"source: {duration / 60:.1f} min 1280x720 H.264 + AAC, {source.stat().st_size >> 20} MB")
    print()
    print("| run | seconds | × realtime | vs baseline | peak MB, all processes | peak MB, Python |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in names:
        if name not in results:
            print(f"| {name} | failed | | | | |")
            continue
        r = results[name]
        ratio = f"{base / r['seconds']:.2f}× faster" if base else "—"
        print(
            f"| {name} | {r['seconds']:.1f} | {duration / r['seconds']:.0f}× | {ratio} "
            f"| {r['tree_mb']:.0f} | {r['self_mb']:.0f} |"
        )
    if "auto-editor" not in names:
        print("| auto-editor | not installed | | | | |")
    for name in ("ours", "ours-pauses"):
        if name in results:
            r = results[name]
            print(
                f"\n{name}: kept {r.get('duration', 0) / 60:.1f} min in {r.get('cuts')} piece(s), "
                f"video {r.get('video')}, audio {r.get('audio')}"
            )


def _drop_caches_hint(source: Path) -> None:
    """Give every contender the same start: the source in the page cache, and no dirty
    pages from the previous run still being written back (that throttles writers)."""
    with source.open("rb") as fh:
        while fh.read(1 << 24):
            pass
    os.sync()


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


if __name__ == "__main__":
    main()
