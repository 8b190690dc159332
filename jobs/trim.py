"""The trim stage: cut the silent head and tail (and long pauses when asked) off the source."""

from __future__ import annotations

import asyncio
import json
import math
import shutil
from pathlib import Path

from jobs.runner import StageJob, stage
from locales.format import duration
from pipeline import trim as media
from storage.models import Recording

REPORT = "trim.json"


@stage("trim")
async def trim(job: StageJob) -> None:
    recording = job.recording
    store = job.deps.store
    folder = store.recording_dir(recording.workspace_id, recording.id)
    source = store.source_path(recording.workspace_id, recording.id, recording.source_ext)
    options = trim_options(recording)

    # A retried stage with the same options keeps the video it already made.
    done = _previous(folder, options)
    if done is None:
        _remove_leftovers(folder)
        job.report(job._("progress.trimming"))
        settings = job.deps.settings
        result = await asyncio.to_thread(
            media.trim,
            source,
            folder,
            remove_pauses=options["remove_pauses"],
            pause_min=settings.pause_min_seconds,
            pause_keep=settings.pause_keep_seconds,
            max_duration=settings.max_duration_hours * 3600,
        )
        done = {
            "options": options,
            "source_duration": result.source_duration,
            "duration": result.duration,
            "keep": [[i.start, i.end] for i in result.timeline.keep],
            # How the picture and sound were cut; "repair": the source had damaged frames.
            "cut": {"video": result.video_method, "audio": result.audio_method},
            "speech_out": [
                [result.timeline.to_output(i.start), result.timeline.to_output(i.end)]
                for i in result.speech
            ],
        }
        _write_json(folder / REPORT, done)
    job.save(
        media={
            "trim": {
                k: done[k] for k in ("source_duration", "duration", "keep", "cut") if k in done
            }
        },
    )
    # Both lengths rounded alike, and "nothing to trim" rather than "0:42 → 0:42".
    before, after = (math.floor(float(done[k]) + 0.5) for k in ("source_duration", "duration"))
    if float(done["source_duration"]) - float(done["duration"]) < 1.0:
        job.summarize(job._("progress.trimmed_uncut", after=duration(after)))
    else:
        job.summarize(job._("progress.trimmed", before=duration(before), after=duration(after)))


def trim_options(recording: Recording) -> dict[str, bool]:
    return {"remove_pauses": bool(recording.options.get("remove_pauses", False))}


def _previous(folder: Path, options: dict[str, bool]) -> dict | None:
    report = folder / REPORT
    if not (report.is_file() and (folder / media.VIDEO_NAME).is_file()):
        return None
    data = json.loads(report.read_text())
    return data if data.get("options") == options else None


# Working folders of the media functions; a run that completes removes its own.
LEFTOVERS = (".trim-*", ".cut-*")


def _remove_leftovers(folder: Path) -> None:
    """Working folders of a run that died: one stage of a recording runs at a time, so any
    found now belong to nobody, and a long recording leaves gigabytes in them."""
    for pattern in LEFTOVERS:
        for stale in folder.glob(pattern):
            shutil.rmtree(stale, ignore_errors=True)


def _write_json(path: Path, data: dict) -> None:
    part = path.with_name(path.name + ".part")
    part.write_text(json.dumps(data))
    part.replace(path)
