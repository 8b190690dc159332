"""How a download shows in the progress message, whatever it downloads from."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from jobs.runner import StageJob


def progress_reporter(job: StageJob) -> Callable[[int, int | None], Awaitable[None]]:
    """A callback for `(bytes done, bytes in all)`: a percent line at most twice a second."""
    last = 0.0

    async def on_progress(done: int, total: int | None) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last < 0.5 and (not total or done < total):
            return
        last = now
        if total:
            job.report(job._("progress.downloading", percent=min(100, done * 100 // total)))
        else:
            job.report(job._("progress.downloading_plain"))

    return on_progress
