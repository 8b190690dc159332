"""The door through which the bot and the recovery sweep hand work to the workers."""

from __future__ import annotations

from arq.connections import ArqRedis

from jobs.queues import STAGE_QUEUE, job_id


async def enqueue_stage(redis: ArqRedis, workspace_id: int, recording_id: int, stage: str) -> bool:
    """Queue a stage; False when that stage of that recording is already queued or running."""
    job = await redis.enqueue_job(
        stage,
        workspace_id,
        recording_id,
        _job_id=job_id(recording_id, stage),
        _queue_name=STAGE_QUEUE[stage],
    )
    return job is not None


async def has_job(redis: ArqRedis, recording_id: int, stage: str) -> bool:
    """Whether arq holds a queued or running job for this stage."""
    jid = job_id(recording_id, stage)
    return bool(await redis.exists(f"arq:job:{jid}", f"arq:in-progress:{jid}"))
