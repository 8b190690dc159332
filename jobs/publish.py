"""Publishing: one `publish:<platform>` job per target, run in parallel, each with its status."""

from __future__ import annotations

from arq.connections import ArqRedis
from arq.worker import Function
from sqlalchemy.ext.asyncio import AsyncSession

from jobs.context import WorkerDeps

PLATFORMS = ("youtube", "vk", "telegram", "export")

# The arq functions of the io worker that publish (`publish:youtube`, ...).
FUNCTIONS: list[Function] = []


async def recover(deps: WorkerDeps) -> int:
    """Re-queue publications whose job was lost; returns how many were queued."""
    return 0


async def request_publication(
    session: AsyncSession,
    redis: ArqRedis,
    workspace_id: int,
    recording_id: int,
    platforms: list[str],
    user_id: int | None,
) -> list[str]:
    """Start publishing a reviewed recording to `platforms`; returns the platforms queued.

    Idempotent: a platform already published or in progress is not queued again.
    """
    raise NotImplementedError
