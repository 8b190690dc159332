"""``leap process``: the pipeline on one local file or link, without Telegram or Redis.

Writes into the output folder exactly what CONTRACT.md lists for it, using the same
stage functions as the workers (transcription engine, topics, subtitles, templates from
the settings), so a result here is what the chat would show.
"""

from __future__ import annotations

import asyncio
import html
import json
import os
import re
import shutil
import sys
import time
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
    """
    if until not in STAGES:
        return _fail(f"unknown stage {until!r}; choose one of {', '.join(STAGES)}", 2)
    settings = get_settings()
    name = str(source)
    input = Path(source)
    if "://" in name:
        # Named after the link: the downloaded file is always called "source".
        out_dir = out if out is not None else Path.cwd() / "out" / _link_stem(name)
        fresh = not out_dir.exists()
        try:
            input, video = _download(name, out_dir / "source", settings)
        except LinkError as exc:
            _forget(out_dir, fresh)
            return _fail(f"{name}: {_link_reason(exc)}", EXIT_BAD_INPUT)
        # What the chat stores for a link: the page's title, as the source's name.
        facts: dict[str, Any] = {
            "title": video.title,
            "filename": video.title,
            "source_kind": "link",
        }
        label = name
    elif input.is_file():
        out_dir = out if out is not None else Path.cwd() / "out" / input.stem
        fresh = not out_dir.exists()
        facts = {"title": input.stem, "filename": input.name, "source_kind": "local"}
        label = input.name
    else:
        return _fail(f"{input}: no such file", EXIT_BAD_INPUT)
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
        _forget(out_dir, fresh)
        return _fail(f"{label}: {_REASONS.get(exc.code, exc.code)}", EXIT_BAD_INPUT)
    except OSError as exc:
        _forget(out_dir, fresh)
        return _fail(f"{label}: {exc.strerror or exc}", EXIT_BAD_INPUT)
    stages["trim"] = {"seconds": round(time.perf_counter() - started, 3)}
    report: dict[str, Any] = {
        "source_duration": result.source_duration,
        "duration": result.duration,
        "keep": result.timeline.pairs(),
        "stages": stages,
    }
    _write_json(out_dir / REPORT, report)

    wanted = STAGES[1 : STAGES.index(until) + 1]
    if not wanted:
        return 0
    try:
        asyncio.run(
            _understand(
                out_dir, wanted, settings, lang or settings.transcribe_language, facts, report
            )
        )
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


def _forget(folder: Path, fresh: bool) -> None:
    """Remove an output folder this run made before it failed; one that was there stays."""
    if fresh:
        shutil.rmtree(folder, ignore_errors=True)


def _fail(message: str, status: int) -> int:
    print(f"leap process: {message}", file=sys.stderr)
    return status


def _write_json(path: Path, data: dict[str, Any]) -> None:
    part = path.with_name(f".{path.name}.part")
    part.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(part, path)
