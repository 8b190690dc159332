"""The live worker processes as Redis knows them: one heartbeat key each.

A worker process (jobs.presence) writes what it is, which queues it serves and which jobs it
runs under `jobs.keys.WORKER` and its id, renewed every WORKER_HEARTBEAT seconds and expiring
three periods after the process is gone. Whoever asks who is alive (the metrics a scrape
reads) asks here.

It imports only the key names, so the metrics can read it without importing the workers.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from redis.asyncio import Redis

from jobs import keys


def worker_key(worker_id: str) -> str:
    return keys.WORKER + worker_id


async def live_workers(redis: Redis) -> list[dict[str, Any]]:
    """What the live worker processes said of themselves in their last heartbeat."""
    found = []
    async for key in redis.scan_iter(match=keys.WORKER + "*", count=200):
        raw = await redis.get(key)
        if raw:
            with contextlib.suppress(ValueError):
                found.append(json.loads(raw))
    return found
