"""``leap process``: the pipeline on one local file, without Telegram or Redis.

Writes into the output folder exactly what CONTRACT.md lists for it. Stages that are
not available yet stop the run after the last one that is, with a one-line message on
stderr and exit status 2.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from pipeline.errors import MediaError
from pipeline.trim import trim

STAGES = ("trim", "transcribe", "topics", "subtitles", "compose")
AVAILABLE = ("trim",)
REPORT = "report.json"

EXIT_BAD_INPUT = 1
EXIT_UNAVAILABLE = 2

_REASONS = {
    "empty": "the file is empty",
    "not_media": "not an audio or video file",
    "truncated": "the file is incomplete (cut off before its end)",
    "no_audio": "there is no audio track",
    "no_video": "there is no video track",
    "silent": "the audio track is silent: nobody speaks in it",
    "too_long": "the recording is too long",
    "ffmpeg_failed": "ffmpeg could not process the file",
}


def run_process(
    input: Path,
    out: Path | None,
    until: str,
    remove_pauses: bool,
    lang: str | None,
) -> int:
    """Run the pipeline on ``input`` up to the stage ``until``; returns the exit status."""
    if until not in STAGES:
        return _fail(f"unknown stage {until!r}; choose one of {', '.join(STAGES)}", 2)
    if "://" in str(input):
        return _fail("only local files can be processed for now", EXIT_UNAVAILABLE)
    if not input.is_file():
        return _fail(f"{input}: no such file", EXIT_BAD_INPUT)
    out_dir = out if out is not None else Path.cwd() / "out" / input.stem
    stages: dict[str, dict[str, float]] = {}

    started = time.perf_counter()
    try:
        result = trim(input, out_dir, remove_pauses=remove_pauses)
    except MediaError as exc:
        return _fail(f"{input.name}: {_REASONS.get(exc.code, exc.code)}", EXIT_BAD_INPUT)
    except OSError as exc:
        return _fail(f"{input.name}: {exc.strerror or exc}", EXIT_BAD_INPUT)
    stages["trim"] = {"seconds": round(time.perf_counter() - started, 3)}
    report: dict[str, Any] = {
        "source_duration": result.source_duration,
        "duration": result.duration,
        "keep": result.timeline.pairs(),
        "stages": stages,
    }
    _write_json(out_dir / REPORT, report)

    wanted = STAGES[: STAGES.index(until) + 1]
    missing = [stage for stage in wanted if stage not in AVAILABLE]
    if missing:
        return _fail(
            f"stage {missing[0]!r} is not available yet; stopped after trim ({out_dir})",
            EXIT_UNAVAILABLE,
        )
    return 0


def _fail(message: str, status: int) -> int:
    print(f"leap process: {message}", file=sys.stderr)
    return status


def _write_json(path: Path, data: dict[str, Any]) -> None:
    part = path.with_name(f".{path.name}.part")
    part.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(part, path)
