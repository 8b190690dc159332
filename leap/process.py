"""``leap process``: the pipeline on one local file or link, without Telegram or Redis.

Writes into the output folder exactly what CONTRACT.md lists for it, using the same
stage functions as the workers (transcription engine, topics, subtitles, templates from
the settings), so a result here is what the chat would show.

The output folder only ever holds one whole run: the run writes into a fresh hidden
folder beside it, which replaces it only at the end, so a failed or stopped run leaves
it as it was. A folder holding files that are not a run's results is refused, never
emptied. A language the engine cannot transcribe is refused before any work.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import html
import json
import os
import re
import secrets
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path, PurePath
from typing import Any
from urllib.parse import urlsplit

from integrations import links, stt
from integrations.links import LinkError, LinkLimits
from integrations.url_guard import AddressGuard
from jobs import files
from leap.settings import Settings, get_settings
from locales import gettext
from locales.format import duration, size
from pipeline.errors import MediaError
from pipeline.templates import DEFAULT_TEMPLATE, TemplateError, compose_metadata
from pipeline.trim import trim

STAGES = ("trim", "transcribe", "topics", "subtitles", "compose")
REPORT = "report.json"

EXIT_BAD_INPUT = 1
EXIT_UNAVAILABLE = 2
EXIT_STOPPED = 130

_REASONS = {
    "empty": "the file is empty",
    "not_media": "not an audio or video file",
    "playlist": "this file is a playlist, not a recording",
    "truncated": "the file is incomplete (cut off before its end)",
    "no_audio": "there is no audio track",
    "no_video": "there is no video track",
    "silent": "the audio track is silent: nobody speaks in it",
    "too_long": "the recording is too long",
    "ffmpeg_failed": "ffmpeg could not process the file",
}


def run_process(
    source: str | Path,
    out: Path | None,
    until: str,
    remove_pauses: bool,
    lang: str | None,
) -> int:
    """Run the pipeline on ``source`` (a path or a URL) up to the stage ``until``.

    Returns the exit status. A URL must reach here as the string that was typed: a Path
    would fold its "//" into "/".

    The results are written into a fresh folder beside the output folder and take its
    place only when the run succeeds, so the output folder always holds one whole run:
    a run that fails or is stopped (Ctrl-C, SIGTERM) leaves it as it was. An output
    folder holding anything but an earlier run's results is refused: replacing it would
    delete files that are not ours.
    """
    if until not in STAGES:
        return _fail(f"unknown stage {until!r}; choose one of {', '.join(STAGES)}", 2)
    settings = get_settings()
    name = str(source)
    input = Path(source)
    is_link = "://" in name
    if not is_link and not input.is_file():
        return _fail(f"{input}: no such file", EXIT_BAD_INPUT)
    stem = _link_stem(name) if is_link else input.stem
    out_dir = (out if out is not None else Path.cwd() / "out" / stem).absolute()
    refusal = _unusable_out(out_dir, None if is_link else input)
    if refusal is not None:
        return _fail(f"{out_dir}: {refusal}", EXIT_BAD_INPUT)
    language = lang or settings.transcribe_language
    if until != "trim":
        # Checked before any work: a language the engine lacks would only fail after the trim.
        problem = _language_problem(settings, language)
        if problem is not None:
            return _fail(problem, EXIT_BAD_INPUT)

    made = _missing_parents(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = _fresh_folder(out_dir, "part")
    done = False
    try:
        with _stopped_by_sigterm():
            status = _run_into(work, name, input, is_link, until, remove_pauses, language)
        if status == 0:
            _swap_in(work, out_dir)
            done = True
        return status
    except KeyboardInterrupt:
        return _fail("stopped; the output folder is as it was before", EXIT_STOPPED)
    finally:
        if not done:
            shutil.rmtree(work, ignore_errors=True)
            for folder in made:
                with contextlib.suppress(OSError):
                    folder.rmdir()


def _run_into(
    out_dir: Path,
    name: str,
    input: Path,
    is_link: bool,
    until: str,
    remove_pauses: bool,
    language: str,
) -> int:
    """The pipeline, writing into ``out_dir`` (the fresh folder of this run)."""
    settings = get_settings()
    if is_link:
        try:
            input, video = _download(name, out_dir / "source", settings)
        except LinkError as exc:
            return _fail(f"{name}: {_link_reason(exc)}", EXIT_BAD_INPUT)
        # What the chat stores for a link: the page's title, as the source's name.
        facts: dict[str, Any] = {
            "title": video.title,
            "filename": video.title,
            "source_kind": "link",
        }
        label = name
    else:
        facts = {"title": input.stem, "filename": input.name, "source_kind": "local"}
        label = input.name
    facts["date"] = date.today().isoformat()
    stages: dict[str, dict[str, float]] = {}

    started = time.perf_counter()
    try:
        result = trim(
            input,
            out_dir,
            remove_pauses=remove_pauses,
            pause_min=settings.pause_min_seconds,
            pause_keep=settings.pause_keep_seconds,
            max_duration=settings.max_duration_hours * 3600,
        )
    except MediaError as exc:
        return _fail(f"{label}: {_REASONS.get(exc.code, exc.code)}", EXIT_BAD_INPUT)
    except OSError as exc:
        return _fail(f"{label}: {exc.strerror or exc}", EXIT_BAD_INPUT)
    stages["trim"] = {"seconds": round(time.perf_counter() - started, 3)}
    report: dict[str, Any] = {
        "source_duration": result.source_duration,
        "duration": result.duration,
        "keep": result.timeline.pairs(),
        "stages": stages,
        # How the picture and the sound were cut: "repair" says the source was damaged.
        "cut": {
            "video": result.video_method,
            "audio": result.audio_method,
            "encoded_seconds": round(result.encoded_seconds, 3),
        },
    }
    _write_json(out_dir / REPORT, report)

    wanted = STAGES[1 : STAGES.index(until) + 1]
    if not wanted:
        return 0
    try:
        asyncio.run(_understand(out_dir, wanted, settings, language, facts, report))
    except stt.TranscriptionError as exc:
        return _fail(f"{label}: transcription failed: {exc.detail or exc.code}", 1)
    except TemplateError as exc:
        return _fail(f"{label}: the template failed: {exc}", 1)
    return 0


async def _understand(
    folder: Path,
    wanted: list[str],
    settings: Settings,
    language: str,
    facts: dict[str, Any],
    report: dict[str, Any],
) -> None:
    """The stages after trim, each timed into report.json as it finishes."""
    # The workers' stage code loads the bot's Telegram types, seconds of start-up that a file
    # refused by trim never needs.
    from jobs.subtitles import write_subtitles
    from jobs.topics import find_topics
    from jobs.transcribe import asr_chunks, engine_for, forget_asr_audio

    video = folder / files.VIDEO
    duration = float(report["duration"])
    transcript = topics = None
    for stage in wanted:
        started = time.perf_counter()
        if stage == "transcribe":
            try:
                chunks = await asr_chunks(settings, video, folder)
                transcript = await engine_for(settings).transcribe(chunks, language=language)
            finally:
                forget_asr_audio(folder)
            files.write_text(folder / files.TRANSCRIPT, transcript.dump_json())
        elif stage == "topics":
            assert transcript is not None
            topics, _method = await find_topics(settings, transcript, duration)
            files.write_text(folder / files.TOPICS, topics.dump_json())
        elif stage == "subtitles":
            assert transcript is not None
            write_subtitles(transcript, folder, duration=duration)
        elif stage == "compose":
            assert topics is not None
            metadata = compose_metadata(DEFAULT_TEMPLATE, facts, topics, duration)
            files.write_text(folder / files.METADATA, metadata.model_dump_json(indent=2))
        report["stages"][stage] = {"seconds": round(time.perf_counter() - started, 3)}
        _write_json(folder / REPORT, report)


def _download(url: str, folder: Path, settings: Settings) -> tuple[Path, links.Video]:
    # The fetch stage's limits, built here so that a refused link costs no start-up time.
    limits = LinkLimits(
        max_duration=settings.max_duration_hours * 3600,
        max_size=int(settings.link_max_size_gb * 1_000_000_000),
        max_items=settings.playlist_max_items,
    )
    folder.mkdir(parents=True, exist_ok=True)
    return links.download(
        url,
        folder,
        AddressGuard(allow_private=settings.allow_private_urls),
        limits,
        proxy=settings.link_proxy,
    )


def _link_reason(exc: LinkError) -> str:
    """What the chat would say about a refused link, in English, as one plain line."""
    params = dict(exc.params)
    if exc.code == "too_long":
        params = {"duration": duration(params["duration"]), "limit": duration(params["limit"])}
    elif exc.code == "link_too_large":
        params = {"size": size("en", params["size"]), "limit": size("en", params["limit"])}
    try:
        text = gettext("en", f"error.{exc.code}", **params)
    except (KeyError, IndexError):
        text = exc.code
    return " ".join(html.unescape(re.sub(r"<[^>]*>", "", text)).split())


def _link_stem(url: str) -> str:
    tail = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    stem = PurePath(tail).stem
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in stem)[:60] or "link"


# What a run of ``leap process`` leaves in its folder; a folder holding only these (or
# nothing) may be replaced by a new run.
_OUR_NAMES = frozenset(
    {
        files.VIDEO,
        files.TRANSCRIPT,
        files.TOPICS,
        files.METADATA,
        "subtitles.srt",
        "subtitles.vtt",
        REPORT,
        "source",
    }
)


def _unusable_out(out_dir: Path, input: Path | None) -> str | None:
    """Why ``out_dir`` cannot take this run's results, or None."""
    if out_dir.exists() and not out_dir.is_dir():
        return "not a folder"
    if input is not None and out_dir in input.absolute().parents:
        return "the input file is inside the output folder; choose another --out"
    if out_dir.is_dir():
        strangers = sorted(
            p.name
            for p in out_dir.iterdir()
            if p.name not in _OUR_NAMES and not p.name.startswith(".")
        )
        if strangers:
            return (
                f"the folder holds files that leap process did not make ({strangers[0]}); "
                "choose an empty or new folder"
            )
    return None


def _language_problem(settings: Settings, language: str) -> str | None:
    """Why the configured engine cannot transcribe ``language``, or None.

    Asked of the engine's list of languages (nothing is decoded or sent), so a language it
    lacks costs no trimming; "auto" (detect it from the speech) is always accepted.
    """
    if not re.fullmatch(r"[a-z]{2,3}(?:-[a-z0-9]{2,8})?|auto", language.strip().lower()):
        return f"--lang {language!r} is not a language code (such as en, ru or auto)"
    from jobs.transcribe import engine_for

    engine = engine_for(settings)
    if engine.supports(language):
        return None
    if engine.languages() == ("en",):
        return (
            f"--lang {language}: the speech model understands English only; leave "
            "LOCAL_WHISPER_MODEL unset for the multilingual model, or use an API engine"
        )
    return f"--lang {language}: the speech model does not know this language"


def _missing_parents(folder: Path) -> list[Path]:
    """The ancestors of ``folder`` that do not exist yet, nearest first."""
    missing = []
    parent = folder.parent
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    return missing


def _fresh_folder(beside: Path, kind: str) -> Path:
    """A new hidden folder next to ``beside`` (made with the usual permissions, which
    ``tempfile.mkdtemp`` would narrow to the owner)."""
    for _ in range(100):
        folder = beside.with_name(f".{beside.name}.{kind}-{secrets.token_hex(4)}")
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder
    raise FileExistsError(f"no free name for a folder beside {beside}")


def _swap_in(work: Path, out_dir: Path) -> None:
    """Put the finished ``work`` folder where ``out_dir`` is, the old one removed after.

    Linux exchanges the two in one step, so no moment exists without one whole run in
    ``out_dir``; elsewhere the old folder is first moved aside.
    """
    if out_dir.exists() and _exchange(work, out_dir):
        shutil.rmtree(work, ignore_errors=True)
        return
    old: Path | None = None
    if out_dir.exists():
        old = _fresh_folder(out_dir, "old")
        os.replace(out_dir, old / out_dir.name)
    os.replace(work, out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2); False where that is not possible."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    done = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return bool(done == 0)


@contextlib.contextmanager
def _stopped_by_sigterm() -> Iterator[None]:
    """SIGTERM stops the run the way Ctrl-C does, so the unfinished folder is removed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _fail(message: str, status: int) -> int:
    print(f"leap process: {message}", file=sys.stderr)
    return status


def _write_json(path: Path, data: dict[str, Any]) -> None:
    part = path.with_name(f".{path.name}.part")
    part.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(part, path)
