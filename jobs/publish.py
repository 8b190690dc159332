"""Publishing: one `publish:<platform>` job per target, run in parallel, each with its status."""

from __future__ import annotations

from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession

PLATFORMS = ("youtube", "vk", "telegram", "export")


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
