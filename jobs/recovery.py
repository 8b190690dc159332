"""The database is the truth: re-queue any recording whose current stage has no job."""

from __future__ import annotations

import logging
from typing import Any

from jobs import publish
from jobs.context import WorkerDeps
from jobs.enqueue import enqueue_stage, has_job
from storage import repo

log = logging.getLogger(__name__)


async def recover(ctx: dict[str, Any]) -> int:
    deps: WorkerDeps = ctx["deps"]
    async with deps.sessions() as session:
        work = await repo.unfinished_work(session)
    requeued = 0
    for workspace_id, recording_id, stage in work:
        if await has_job(deps.redis, recording_id, stage):
            continue
        if await enqueue_stage(deps.redis, workspace_id, recording_id, stage):
            requeued += 1
            log.info("recording %s: %s re-queued by recovery", recording_id, stage)
    return requeued + await publish.recover(deps)
