"""How fast transcription goes: the API engine's concurrency and the local engine's speed.

Run from the repository root::

    .venv/bin/python -m bench.transcribe [--minutes 60] [--chunk 300] [--latency 2]
                                         [--concurrency 4] [--no-local]

API part: an hour of speech (one espeak-ng sentence looped by ffmpeg, cut into
chunks of ``--chunk`` seconds as MP3 32 kbps) goes to the fake OpenAI server on
127.0.0.1, which answers every request after ``--latency`` seconds. It prints
the wall time with ``--concurrency`` requests in flight, with one at a time, and
the ideal: the slowest single request times ceil(chunks / concurrency).

Local part: the default local engine (multilingual Whisper base) on a synthesised clip of
about a minute: model load time and realtime factor (wall / audio) with beam 1 and 5, with
the language given and detected. Then lectures of ``--local-minutes`` (default 5 and 20;
add 60 for the README table) heard in pieces by the engine against faster-whisper alone on
the whole file, each run in its own process so its peak memory (RSS) is its own.

Key terms part (``--terms-only`` runs it alone): a short English lecture and a short Russian
one synthesised with espeak-ng that say rare names (Dijkstra, Kolmogorov, Levenshtein) heard by
the local engine without and with them as its vocabulary: how many of the names come out
spelled right, and the word error rate of the whole text.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from integrations.stt import make_engine
from integrations.stt.local import PIECE_SECONDS, bundled_model_path, load_model
from tests.fakes.openai import FakeOpenAI, Phrase, Upload

SENTENCE = (
    "Today we look at how a signal is sampled, and why the sampling rate must be "
    "more than twice the highest frequency in it."
)
CLIP = (
    "Good morning everyone, and welcome to the course on signals.",
    "A signal is a function of time that carries information.",
    "We take measurements at regular intervals and store them as numbers.",
    "The sampling rate must be more than twice the highest frequency.",
    "Otherwise we see aliasing, and the result looks like a slower wave.",
    "Filters remove the frequencies we do not want before we sample.",
    "A low pass filter keeps the slow changes and removes the fast ones.",
    "Next week we will study the frequency domain in more detail.",
    "Thank you for listening, and see you on Monday.",
)


TERMS = ("Dijkstra", "Kolmogorov", "Levenshtein")
TERMS_LECTURE = (
    "Good morning, today we look at three classic ideas in computer science.",
    "The first one is the shortest path algorithm of Dijkstra.",
    "Dijkstra keeps a priority queue of the vertices that are still open.",
    "Next comes Kolmogorov complexity, the length of the shortest program for a string.",
    "Kolmogorov showed that most strings cannot be compressed at all.",
    "The last idea is the Levenshtein distance between two words.",
    "We compute the Levenshtein distance with dynamic programming in a table.",
    "Each cell of the table holds the cost of the cheapest edit so far.",
    "Next week we combine Dijkstra, Kolmogorov and Levenshtein in one exercise.",
    "Thank you for listening.",
)

TERMS_RU = ("Дейкстра", "Колмогоров", "Левенштейн")
TERMS_LECTURE_RU = (
    "Доброе утро, сегодня мы разберём три классические идеи информатики.",
    "Первая из них это алгоритм Дейкстры для поиска кратчайших путей.",
    "Дейкстра хранит очередь с приоритетами из вершин, которые ещё открыты.",
    "Затем сложность по Колмогорову, длина самой короткой программы для строки.",
    "Колмогоров показал, что большинство строк сжать нельзя.",
    "Последняя идея это расстояние Левенштейна между двумя словами.",
    "Левенштейн предложил его в шестьдесят пятом году.",
    "Спасибо за внимание.",
)


def run(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", *args], check=True)


def speak(text: str, out: Path) -> Path:
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "165", "-w", str(out), text], check=True)
    return out


def make_chunks(workdir: Path, minutes: float, chunk: float) -> list[tuple[Path, float]]:
    """The hour as chunk files with their offsets; chunks of equal length share one file."""
    sentence = speak(SENTENCE, workdir / "sentence.wav")
    total = minutes * 60
    chunks: list[tuple[Path, float]] = []
    files: dict[float, Path] = {}
    offset = 0.0
    while offset < total - 0.5:
        length = round(min(chunk, total - offset), 3)
        if length not in files:
            path = workdir / f"chunk-{length:g}.mp3"
            run(
                "-stream_loop", "-1", "-i", str(sentence), "-t", f"{length}",
                "-ac", "1", "-ar", "16000", "-c:a", "libmp3lame", "-b:a", "32k", str(path),
            )  # fmt: skip
            files[length] = path
        chunks.append((files[length], offset))
        offset += length
    return chunks


def heard(upload: Upload) -> list[Phrase]:
    """A phrase every ten seconds of the chunk, like a busy lecturer."""
    return [
        Phrase(t, min(t + 8.0, upload.duration), SENTENCE)
        for t in (10.0 * i for i in range(int(upload.duration // 10)))
    ]


async def api_part(args: argparse.Namespace, workdir: Path) -> list[tuple[str, str]]:
    chunks = make_chunks(workdir, args.minutes, args.chunk)
    rows: list[tuple[str, str]] = []
    async with FakeOpenAI() as api:
        api.transcriber = heard
        api.latency = args.latency

        def engine(concurrency: int):  # type: ignore[no-untyped-def]
            return make_engine(
                "openai",
                base_url=api.base_url,
                api_key=api.api_key,
                model="whisper-1",
                concurrency=concurrency,
            )

        start = time.perf_counter()
        sequential = await engine(1).transcribe(chunks, language="en")
        sequential_wall = time.perf_counter() - start
        slowest = max(r.finished - r.received for r in api.requests)

        api.requests.clear()
        api.max_in_flight.clear()
        start = time.perf_counter()
        concurrent = await engine(args.concurrency).transcribe(chunks, language="en")
        concurrent_wall = time.perf_counter() - start
        in_flight = api.max_in_flight["transcriptions"]

    assert concurrent.segments == sequential.segments
    ideal = slowest * math.ceil(len(chunks) / args.concurrency)
    size = sum(p.stat().st_size for p, _ in chunks) / 2**20
    rows += [
        (
            "audio",
            f"{args.minutes:g} min in {len(chunks)} chunks of {args.chunk:g} s, {size:.1f} MB",
        ),
        ("fake API latency per request", f"{args.latency:g} s"),
        ("slowest single request", f"{slowest:.2f} s"),
        ("sequential (concurrency 1)", f"{sequential_wall:.2f} s"),
        (f"concurrent (concurrency {args.concurrency})", f"{concurrent_wall:.2f} s"),
        ("max requests in flight", f"{in_flight}"),
        ("ideal: slowest x ceil(chunks/concurrency)", f"{ideal:.2f} s"),
        ("concurrent / ideal (target <= 1.3)", f"{concurrent_wall / ideal:.2f}"),
        ("speed-up over sequential", f"{sequential_wall / concurrent_wall:.2f}x"),
        ("segments in the merged transcript", f"{len(concurrent.segments)}"),
    ]
    return rows


def make_clip(workdir: Path) -> tuple[Path, float]:
    """About a minute of espeak-ng sentences, each followed by 2.5 s of silence."""
    inputs: list[str] = []
    for i, text in enumerate(CLIP):
        inputs += ["-i", str(speak(text, workdir / f"clip-{i}.wav"))]
    graph = "".join(f"[{i}:a]apad=pad_dur=2.5[a{i}];" for i in range(len(CLIP)))
    graph += "".join(f"[a{i}]" for i in range(len(CLIP))) + f"concat=n={len(CLIP)}:v=0:a=1"
    clip = workdir / "clip.wav"
    run(*inputs, "-filter_complex", graph, "-ac", "1", "-ar", "16000", str(clip))
    return clip, duration_of(clip)


def duration_of(path: Path) -> float:
    probe = ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0"]
    out = subprocess.run([*probe, str(path)], check=True, capture_output=True, text=True).stdout
    return float(out)


def make_lecture(workdir: Path, clip: Path, minutes: float) -> Path:
    """``minutes`` of lecture: the clip looped, as AAC in M4A like a trimmed recording."""
    out = workdir / f"lecture-{minutes:g}.m4a"
    if not out.exists():
        run(
            "-stream_loop", "-1", "-i", str(clip), "-t", f"{minutes * 60}",
            "-ac", "1", "-ar", "16000", "-c:a", "aac", "-b:a", "48k", str(out),
        )  # fmt: skip
    return out


def child(mode: str, path: str, language: str, model_name: str = "") -> None:
    """One measured run in a fresh process, so its peak memory is its own; prints JSON."""
    audio = Path(path)
    local_model = model_name or None
    load_model(local_model, compute_type="int8", cpu_threads=2)
    start = time.perf_counter()
    if mode == "one-piece":
        # faster-whisper alone on the whole file: what the local engine did before pieces.
        model = load_model(local_model, compute_type="int8", cpu_threads=2)
        found, _ = model.transcribe(
            str(audio),
            language=None if language == "auto" else language,
            beam_size=1,
            word_timestamps=True,
            vad_filter=True,
            condition_on_previous_text=False,
        )
        words = sum(len(s.words or []) for s in found)
    else:
        engine = make_engine("local", local_model=local_model, beam_size=1, cpu_threads=2)
        transcript = asyncio.run(engine.transcribe([(audio, 0.0)], language=language))
        words = len(transcript.words())
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"wall": wall, "peak": peak, "words": words}))


def measure(mode: str, audio: Path, language: str, model_name: str = "") -> dict[str, float]:
    cmd = [
        sys.executable, "-m", "bench.transcribe", "--child", mode, str(audio), language, model_name
    ]  # fmt: skip
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


async def local_part(
    workdir: Path,
    minutes: list[float],
    model_name: str = "",
    language: str = "auto",
    *,
    pieces_only: bool = False,
) -> list[tuple[str, str]]:
    if bundled_model_path() is None:
        return [("local engine", "skipped: the Whisper base packages are not installed")]
    clip, seconds = make_clip(workdir)
    rows = [("local clip", f"{seconds:.1f} s of espeak-ng speech, {os.cpu_count()} cores")]
    start = time.perf_counter()
    await asyncio.to_thread(load_model, None, compute_type="int8", cpu_threads=2)
    rows.append(("local model load (base, int8)", f"{time.perf_counter() - start:.2f} s"))
    for beam in (1, 5):
        engine = make_engine("local", beam_size=beam, cpu_threads=2)
        # One sentence first, so one-time set-up (the VAD model) is not counted.
        await engine.transcribe([(workdir / "clip-0.wav", 0.0)], language="en")
        for spoken in ("en", "auto"):
            start = time.perf_counter()
            transcript = await engine.transcribe([(clip, 0.0)], language=spoken)
            wall = time.perf_counter() - start
            rows.append(
                (
                    f"local, beam {beam}, language {spoken}",
                    f"{wall:.2f} s, realtime factor {wall / seconds:.3f}, "
                    f"{len(transcript.words())} words",
                )
            )
    label = f"{model_name}, language {language}, " if model_name else ""
    for length in minutes:
        audio = make_lecture(workdir, clip, length)
        audio_seconds = duration_of(audio)
        pieces = measure("pieces", audio, language, model_name)
        measured = (
            f"RTF {pieces['wall'] / audio_seconds:.3f} ({pieces['wall']:.0f} s), "
            f"peak RSS {pieces['peak'] / 2**20:.0f} MB, {pieces['words']:.0f} words"
        )
        if not pieces_only:
            one = measure("one-piece", audio, language, model_name)
            rows.append(
                (
                    f"{length:g} min, {label}one piece (faster-whisper alone)",
                    f"RTF {one['wall'] / audio_seconds:.3f} ({one['wall']:.0f} s), "
                    f"peak RSS {one['peak'] / 2**20:.0f} MB, {one['words']:.0f} words",
                )
            )
            measured += (
                f"; time x{pieces['wall'] / one['wall']:.2f}, "
                f"memory x{pieces['peak'] / one['peak']:.2f}"
            )
        rows.append(
            (f"{length:g} min, {label}pieces of {PIECE_SECONDS / 60:g} min (the engine)", measured)
        )
    return rows


def _word_error_rate(reference: str, hypothesis: str) -> float:
    ref = re.findall(r"[\w']+", reference.casefold())
    hyp = re.findall(r"[\w']+", hypothesis.casefold())
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i]
        for j, h in enumerate(hyp, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h)))
        previous = current
    return previous[-1] / max(1, len(ref))


def _spelled(text: str, terms: tuple[str, ...], language: str) -> int:
    """Mentions spelled as the vocabulary spells them: whole words in English; in Russian, where
    a name is declined ("Дейкстры"), words that start with the name without its last letter."""
    if language == "en":
        return sum(len(re.findall(rf"\b{term}\b", text)) for term in terms)
    words = re.findall(r"\w+", text.casefold())
    stems = [term[:-1].casefold() for term in terms]
    return sum(1 for word in words if any(word.startswith(stem) for stem in stems))


async def terms_part(workdir: Path) -> list[tuple[str, str]]:
    """The rare names' recognition rate without and with the vocabulary (local engine), on an
    English lecture and on a Russian one."""
    if bundled_model_path() is None:
        return [("key terms", "skipped: the Whisper base packages are not installed")]
    await asyncio.to_thread(load_model, None, compute_type="int8", cpu_threads=2)
    rows: list[tuple[str, str]] = []
    for language, voice, speed, sentences, terms in (
        ("en", "en-us", 165, TERMS_LECTURE, TERMS),
        ("ru", "ru", 150, TERMS_LECTURE_RU, TERMS_RU),
    ):
        lecture = synth_lecture(workdir, language, voice, sentences, speed)
        rows += await _terms_lecture(workdir, lecture, language, sentences, terms)
    return rows


def synth_lecture(
    workdir: Path, language: str, voice: str, sentences: tuple[str, ...], speed: int = 165
) -> Path:
    """The sentences spoken by espeak-ng at ``speed`` words a minute, 1.2 s of silence after
    each, as 16 kHz WAV."""
    inputs: list[str] = []
    for i, text in enumerate(sentences):
        out = workdir / f"terms-{language}-{i}.wav"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(out), text], check=True
        )
        inputs += ["-i", str(out)]
    count = len(sentences)
    graph = "".join(f"[{i}:a]apad=pad_dur=1.2[a{i}];" for i in range(count))
    graph += "".join(f"[a{i}]" for i in range(count)) + f"concat=n={count}:v=0:a=1"
    lecture = workdir / f"terms-lecture-{language}.wav"
    run(*inputs, "-filter_complex", graph, "-ac", "1", "-ar", "16000", str(lecture))
    return lecture


async def _terms_lecture(
    workdir: Path, lecture: Path, language: str, sentences: tuple[str, ...], terms: tuple[str, ...]
) -> list[tuple[str, str]]:
    seconds = duration_of(lecture)
    reference = " ".join(sentences)
    said = _spelled(reference, terms, language)
    rows = [
        (
            f"key terms lecture ({language})",
            f"{seconds:.1f} s of espeak-ng, {said} mentions of {', '.join(terms)}",
        )
    ]
    # One sentence first, so one-time set-up (the VAD model) is not counted.
    first = workdir / f"terms-{language}-0.wav"
    await make_engine("local").transcribe([(first, 0.0)], language=language)
    for label, vocabulary in (("without vocabulary", ()), ("with vocabulary", terms)):
        engine = make_engine("local", cpu_threads=2, vocabulary=vocabulary)
        start = time.perf_counter()
        transcript = await engine.transcribe([(lecture, 0.0)], language=language)
        wall = time.perf_counter() - start
        text = transcript.text()
        found = _spelled(text, terms, language)
        rows.append(
            (
                f"key terms ({language}), {label}",
                f"{found}/{said} names right ({found / said:.0%}), "
                f"WER {_word_error_rate(reference, text):.1%}, {wall:.1f} s",
            )
        )
    return rows


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--chunk", type=float, default=300.0)
    parser.add_argument("--latency", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--no-local", action="store_true")
    parser.add_argument("--no-api", action="store_true", help="skip the API engine's part")
    parser.add_argument(
        "--pieces-only",
        action="store_true",
        help="time only the engine on the lecture lengths, not faster-whisper on the whole file",
    )
    parser.add_argument("--terms-only", action="store_true", help="only the key terms part")
    parser.add_argument(
        "--local-minutes",
        default="5,20",
        help="lecture lengths for the local engine, pieces against one piece (e.g. 5,20,60)",
    )
    parser.add_argument(
        "--local-model",
        default="",
        help="the model for the lecture lengths (e.g. tiny.en, heard as English); default base",
    )
    args = parser.parse_args()
    lengths = [float(m) for m in args.local_minutes.split(",") if m.strip()]
    with tempfile.TemporaryDirectory(prefix="bench-transcribe-") as tmp:
        workdir = Path(tmp)
        rows = [] if args.terms_only or args.no_api else await api_part(args, workdir)
        if not args.no_local and not args.terms_only:
            language = "en" if args.local_model.endswith(".en") else "auto"
            rows += await local_part(
                workdir, lengths, args.local_model, language, pieces_only=args.pieces_only
            )
        if not args.no_local:
            rows += await terms_part(workdir)
    width = max(len(name) for name, _ in rows)
    print(f"{'measure'.ljust(width)} | value")
    print(f"{'-' * width}-|-{'-' * 40}")
    for name, value in rows:
        print(f"{name.ljust(width)} | {value}")


if __name__ == "__main__":
    if len(sys.argv) in (5, 6) and sys.argv[1] == "--child":
        child(*sys.argv[2:])
    else:
        asyncio.run(main())
