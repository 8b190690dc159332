"""Fetching a Zoom cloud recording file."""

from __future__ import annotations

from pathlib import Path

from jobs.runner import StageFailure, StageJob


async def fetch_zoom(job: StageJob, dest: Path) -> Path:
    """Download the recording's source into `dest` (or a sibling with the right extension).

    Returns the path written; the recording's `source_ext` is updated through `job.save`.
    """
    raise StageFailure("download_failed")
