"""Benchmark of the trim stage against the usual ffmpeg recipe and against auto-editor.

    .venv/bin/python -m bench.trim [--minutes 22 60] [--size 1280x720] [--rounds 1]
        [--cache .cache/bench] [--with-auto-editor] [--only NAME ...]

Synthesises a lecture of each given length once (H.264 + AAC stereo: a few
minutes of silence at the head and tail, a five-minute body of speech with pauses,
repeated), then times, each in a fresh process so peak memory is its own:

- ``ours``: :func:`pipeline.trim.trim`, head and tail only;
- ``ours --remove-pauses``: the same with pause removal;
- ``baseline``: MP3 64 kbps 16 kHz mono, ``silencedetect`` at -40 dB on it, then a
  stream-copy cut from the first to the last sound;
- ``auto-editor``: with ``--with-auto-editor``, the last pure-Python release, set up on
  first use in its own virtual environment under the cache (its pins, NumPy 1 among
  them, must not meet the project's), with the same pause settings as ours: silences
  longer than ``PAUSE_MIN`` seconds shortened to ``PAUSE_KEEP`` (half of it kept on
  each side). It always re-encodes the whole video.

The numbers are seconds of wall time on this machine; with ``--rounds N`` the contenders
run N times in turn and each keeps its median run. Ratios are only meaningful between
runs of one invocation (the machine may be shared).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib
import json
import os
import platform
import re
import resource
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

PAUSE_MIN = 3.0
"""Silences longer than this are shortened (ours and auto-editor alike)."""
PAUSE_KEEP = 1.0
"""What is left of such a silence."""

AUTO_EDITOR_VENV = "auto-editor-venv"
AUTO_EDITOR_PINS = (
    # The last release that is pure Python; later ones fetch a native binary at first run.
    "auto-editor==23.32.1",
    # Its declared av==10.0.0 has no wheel for this Python; 12.0.0 works with it.
    "av==12.0.0",
    "numpy<2",
    "pillow==10.0.0",
    # Carries the ffmpeg executable auto-editor calls for audio and muxing.
    "ae-ffmpeg==1.1.2",
)


def build_lecture(minutes: float, cache: Path, size: str = "1280x720") -> Path:
    """A ``minutes``-long lecture of ``size`` pixels, made once and kept in ``cache``.

    The picture is three segments joined by stream copy; the sound is one continuous
    AAC encode, as a recorder would write it.
    """
    tag = "" if size == "1280x720" else f"_{size}"
    out = cache / f"lecture_{minutes:g}min{tag}.mp4"
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
        _video_segment(cache / f"head{tag}.mp4", HEAD_SILENCE, size),
        *[_video_segment(cache / f"body{tag}.mp4", BODY_SECONDS, size)] * repeats,
        _video_segment(cache / f"tail{tag}.mp4", TAIL_SILENCE, size),
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


def _video_segment(out: Path, seconds: float, size: str) -> Path:
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
                f"testsrc2=s={size}:r=30:d={seconds}",
                *VIDEO_ARGS,
                str(out),
            ],
            check=True,
        )
    return out


# --- the contenders, each run in a child process --------------------------------------------


def run_ours(source: Path, out_dir: Path, remove_pauses: bool) -> dict[str, object]:
    from pipeline.trim import trim

    result = trim(
        source, out_dir, remove_pauses=remove_pauses, pause_min=PAUSE_MIN, pause_keep=PAUSE_KEEP
    )
    return {
        "duration": result.duration,
        "cuts": len(result.timeline),
        "video": result.video_method,
        "audio": result.audio_method,
        "encoded": result.encoded_seconds,
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


def run_auto_editor(source: Path, out_dir: Path, python: Path) -> dict[str, object]:
    out = out_dir / "video.mp4"
    subprocess.run(
        [str(python), "-m", "auto_editor", *auto_editor_args(source, out)],
        check=True,
        capture_output=True,
    )
    return {"duration": _duration(out)}


def auto_editor_args(source: Path, out: Path) -> list[str]:
    """auto-editor's options for our pause removal.

    It marks each frame of its timeline loud or silent (peak level against 4 % of the
    loudest, its default), turns silent runs shorter than ``mincut`` frames loud, then
    widens every loud run by ``--margin`` on both sides: a silence longer than
    ``PAUSE_MIN`` keeps ``PAUSE_KEEP``, as ours does.
    """
    fps = _frame_rate(source)
    mincut = round(PAUSE_MIN * fps)
    return [
        str(source),
        "--no-open",
        "--progress",
        "none",
        "--edit",
        f"audio:threshold=4%,mincut={mincut}",
        "--margin",
        f"{PAUSE_KEEP / 2:g}s",
        "-o",
        str(out),
    ]


def auto_editor_python(cache: Path) -> tuple[Path | None, str]:
    """The interpreter of the cached auto-editor environment, set up when missing.

    Returns (python, "") when ``import auto_editor`` works there, else (None, why not).
    """
    venv = cache / AUTO_EDITOR_VENV
    python = venv / "bin" / "python"
    if _imports_auto_editor(python):
        return python, ""
    print(f"setting up auto-editor in {venv} ...", flush=True)
    made = subprocess.run(
        [_base_python(), "-m", "venv", "--clear", str(venv)],
        capture_output=True,
        text=True,
        check=False,
    )
    if made.returncode != 0:
        return None, "cannot create its virtual environment: " + _tail(made.stderr)
    pip = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--quiet", *AUTO_EDITOR_PINS],
        capture_output=True,
        text=True,
        check=False,
    )
    if pip.returncode != 0:
        return None, "pip could not install " + " ".join(AUTO_EDITOR_PINS) + ": " + _tail(
            pip.stderr
        )
    check = subprocess.run(
        [str(python), "-m", "auto_editor", "--version"], capture_output=True, text=True
    )
    if check.returncode != 0:
        return None, "installed, but it does not start: " + _tail(check.stderr)
    return python, ""


def _imports_auto_editor(python: Path) -> bool:
    if not python.exists():
        return False
    probe = subprocess.run(
        [str(python), "-c", "import auto_editor.__main__"], capture_output=True, check=False
    )
    return probe.returncode == 0


def _base_python() -> str:
    """An interpreter outside the project's virtual environment, for a venv of its own."""
    base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    return str(base) if base.exists() else sys.executable


def _tail(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else "no message"


def _duration(path: Path) -> float:
    return float(
        subprocess.run(
            [
                "ffprobe",
                "-v",
                "error",
                "-show_entries",
                "format=duration",
                "-of",
                "csv=p=0",
                str(path),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )


def _frame_rate(path: Path) -> float:
    rate = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=avg_frame_rate",
            "-of",
            "csv=p=0",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    num, _, den = rate.partition("/")
    return float(num) / float(den or 1)


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


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _child(name: str, source: Path, python: Path | None, sample_memory: bool) -> None:
    """Run one contender and print its timing and peak memory as JSON.

    The memory of the whole process tree is sampled (``sample_memory``) in a run of its own:
    the sampler walks ``/proc`` every 50 ms and holds the interpreter while it does, which
    would slow the contenders that do their work in Python threads.

    Ours is timed as a worker that has trimmed before meets a recording: the modules
    imported and the voice-activity model loaded before the clock starts (about a quarter
    of a second, once per worker process, reported as ``warm_up``)."""
    warm_up = 0.0
    if name.startswith("ours"):
        began = time.perf_counter()
        importlib.import_module("pipeline.trim")
        importlib.import_module("pipeline.vad").warm_up()
        warm_up = time.perf_counter() - began
    spent = _cpu_seconds()
    memory = TreeMemory() if sample_memory else None
    with (
        tempfile.TemporaryDirectory(prefix="bench-", dir=source.parent) as tmp,
        memory or contextlib.nullcontext(),
    ):
        out_dir = Path(tmp)
        started = time.perf_counter()
        if name == "ours":
            extra = run_ours(source, out_dir, remove_pauses=False)
        elif name == "ours-pauses":
            extra = run_ours(source, out_dir, remove_pauses=True)
        elif name == "baseline":
            extra = run_baseline(source, out_dir)
        elif name == "auto-editor" and python is not None:
            extra = run_auto_editor(source, out_dir, python)
        else:
            raise SystemExit(f"unknown contender {name}")
        seconds = time.perf_counter() - started
        out_bytes = sum(p.stat().st_size for p in out_dir.glob("video.mp4"))
    report = {
        "seconds": seconds,
        "warm_up": warm_up,
        "cpu": _cpu_seconds() - spent,
        "self_mb": _own_peak_kb() / 1024,
        "tree_mb": memory.peak_kb / 1024 if memory is not None else 0.0,
        "out_mb": out_bytes / 2**20,
        **extra,
    }
    print(json.dumps(report))


CONTENDERS = ("baseline", "ours", "ours-pauses", "auto-editor")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[22.0, 60.0])
    parser.add_argument("--size", default="1280x720", help="picture size, e.g. 960x540")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run the contenders this many times in turn and keep each one's median",
    )
    parser.add_argument("--cache", type=Path, default=Path(".cache/bench"))
    parser.add_argument(
        "--with-auto-editor",
        action="store_true",
        help="also time auto-editor 23.32.1 (set up under the cache on first use)",
    )
    parser.add_argument("--only", nargs="+", choices=CONTENDERS, help="run just these contenders")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--source", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--python", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--memory", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.source, args.python, args.memory)
        return

    cache = args.cache.resolve()
    names = [n for n in CONTENDERS if n in (args.only or CONTENDERS)]
    ae_python: Path | None = None
    ae_why = "not asked for (--with-auto-editor)"
    if "auto-editor" in names and (args.with_auto_editor or args.only):
        ae_python, ae_why = auto_editor_python(cache)
        if ae_python is None:
            print(f"auto-editor cannot run here: {ae_why}", file=sys.stderr)
    if ae_python is None and "auto-editor" in names:
        names.remove("auto-editor")
    tables: list[str] = []
    for minutes in args.minutes:
        print(f"building a {minutes:g}-minute {args.size} lecture (cached) ...", flush=True)
        source = build_lecture(minutes, cache, args.size)
        results = _race(names, source, ae_python, max(args.rounds, 1))
        tables.append(_table(results, source, args, names, ae_python, ae_why))
    print()
    print(f"trim benchmark, {datetime.date.today()}, {_machine()}")
    for table in tables:
        print()
        print(table)


def _race(
    names: list[str], source: Path, ae_python: Path | None, rounds: int
) -> dict[str, dict[str, float]]:
    """Each contender ``rounds`` times, in turn, so a busy moment of a shared machine falls
    on all of them alike; per contender the run with the median time. Then each once more
    for the peak memory of its process tree."""
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    peaks: dict[str, float] = {}
    for round_ in range(rounds + 1):
        sample_memory = round_ == rounds
        for name in names:
            _drop_caches_hint(source)
            print(f"running {name}{' (memory)' if sample_memory else ''} ...", flush=True)
            cmd = [sys.executable, "-m", "bench.trim", "--child", name, "--source", str(source)]
            if name == "auto-editor" and ae_python is not None:
                cmd += ["--python", str(ae_python)]
            if sample_memory:
                cmd.append("--memory")
            proc = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                check=False,
                env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
            )
            if proc.returncode != 0:
                print(f"{name}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
                continue
            report = json.loads(proc.stdout.strip().splitlines()[-1])
            if sample_memory:
                peaks[name] = report["tree_mb"]
            else:
                runs[name].append(report)
    results: dict[str, dict[str, float]] = {}
    for name, done in runs.items():
        if done:
            done.sort(key=lambda r: r["seconds"])
            results[name] = {**done[len(done) // 2], "runs": len(done)}
            results[name]["tree_mb"] = peaks.get(name, 0.0)
    return results


def _table(
    results: dict[str, dict[str, float]],
    source: Path,
    args: argparse.Namespace,
    names: list[str],
    ae_python: Path | None,
    ae_why: str,
) -> str:
    duration = _duration(source)
    base = results.get("baseline", {}).get("seconds")
    editor = results.get("auto-editor", {}).get("seconds")
    lines = [
        f"source: {duration / 60:.1f} min {args.size} H.264 + AAC, "
        f"{source.stat().st_size >> 20} MB; pauses over {PAUSE_MIN:g} s shortened to "
        f"{PAUSE_KEEP:g} s; median of {max(args.rounds, 1)} run(s) each",
        "",
        "| run | seconds | × realtime | vs baseline | vs auto-editor | CPU s "
        "| peak MB, all processes | peak MB, Python | output MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in CONTENDERS:
        if name not in results:
            if name == "auto-editor" and (args.only is None or name in args.only):
                why = ae_why if ae_python is None else "failed"
                lines.append(f"| auto-editor | {why} | | | | | | | |")
            elif name in names:
                lines.append(f"| {name} | failed | | | | | | | |")
            continue
        r = results[name]
        vs_base = f"{base / r['seconds']:.2f}× faster" if base and name != "baseline" else "—"
        vs_editor = (
            f"{editor / r['seconds']:.1f}× faster" if editor and name != "auto-editor" else "—"
        )
        lines.append(
            f"| {name} | {r['seconds']:.2f} | {duration / r['seconds']:.0f}× | {vs_base} "
            f"| {vs_editor} | {r['cpu']:.1f} | {r['tree_mb']:.0f} | {r['self_mb']:.0f} "
            f"| {r['out_mb']:.0f} |"
        )
    for name in ("ours", "ours-pauses", "auto-editor"):
        if name in results:
            r = results[name]
            line = f"\n{name}: kept {float(r.get('duration', 0)) / 60:.1f} min"
            if "cuts" in r:
                line += (
                    f" in {r.get('cuts')} piece(s), video {r.get('video')}, "
                    f"audio {r.get('audio')}, {r.get('encoded', 0):.0f} s re-encoded; "
                    f"not timed: {r.get('warm_up', 0):.2f} s of imports and model load, "
                    "once per worker"
                )
            lines.append(line)
    return "\n".join(lines)


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
