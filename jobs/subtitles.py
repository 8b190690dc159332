"""The subtitles stage: SRT and WebVTT on the timeline of the published video."""

from __future__ import annotations

from pathlib import Path

from jobs import files
from jobs.runner import StageJob, stage
from pipeline.subtitles import build_cues, to_srt, to_vtt
from pipeline.transcript import Transcript


@stage("subtitles")
async def subtitles(job: StageJob) -> None:
    recording = job.recording
    folder = job.deps.store.recording_dir(recording.workspace_id, recording.id)
    # The trimmed video's length; recordings trimmed before it was stored get no bound.
    duration = recording.media.get("trim", {}).get("duration")
    transcript = Transcript.load_json(folder / files.TRANSCRIPT)
    count = write_subtitles(transcript, folder, duration=float(duration) if duration else None)
    job.save(media={"subtitles": {"cues": count}})
    job.summarize(job._("progress.subtitles_done", count=count))


def write_subtitles(transcript: Transcript, folder: Path, *, duration: float | None) -> int:
    """subtitles.srt and subtitles.vtt in `folder`, none past `duration` (the video's
    length in seconds); returns the number of cues."""
    cues = build_cues(transcript, duration=duration)
    files.write_text(folder / files.SRT, to_srt(cues))
    files.write_text(folder / files.VTT, to_vtt(cues))
    return len(cues)
