"""This worker process as the fleet sees it: its heartbeat, the leases of its jobs, its wake-ups.

Beyond arq itself, each worker process keeps three things in Redis (`Presence`):

- a heartbeat (`keys.WORKER` and its id; jobs.fleet reads them), renewed every
  WORKER_HEARTBEAT seconds and gone three periods after the process is;
- a lease per job it runs (`keys.LEASE` and the job id), taken before the job starts and renewed
  with the heartbeat. A job whose lease is held by a live worker is never started a second
  time, and a job whose lease has run out belongs to a dead worker: the recovery sweep
  (jobs.recovery) hands it to another worker within seconds, instead of after arq's
  in-progress mark expires (the longest job timeout of the worker plus 10 s, hours here);
- a wake-up channel per queue (`keys.WAKE` and the queue's name). Enqueueing through
  `WakingRedis` publishes on it, so an idle worker starts a new job at once and looks at its
  queue on its own only every WORKER_POLL_DELAY seconds (for jobs put off until later).

A lost Redis never stops the process: a missed heartbeat is logged and tried again at the next
period, and the wake-up channel is listened to again after a growing pause.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Sequence
from typing import Any

from arq.connections import ArqRedis
from redis.asyncio import Redis
from redis.exceptions import RedisError

from jobs import keys
from jobs.fleet import worker_key
from jobs.queues import QUEUES
from jobs.recovery import lease_seconds
from leap.settings import Settings

log = logging.getLogger(__name__)

# Take the lease of a job unless a live worker (one whose heartbeat key exists) holds it.
# Returns the holder when refused, nothing when the lease is now ours.
_CLAIM = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] and redis.call('EXISTS', ARGV[3] .. holder) == 1 then
  return holder
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
"""
# Give the lease up only if it is still ours.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def lease_key(job_id: str) -> str:
    return keys.LEASE + job_id


def wake_channel(queue_name: str) -> str:
    return keys.WAKE + queue_name


# --- enqueueing that wakes the workers ------------------------------------------------------


class WakingRedis(ArqRedis):
    """An arq pool whose jobs, when due now, wake the workers of their queue at once."""

    async def enqueue_job(  # type: ignore[override]
        self,
        function: str,
        *args: Any,
        _job_id: str | None = None,
        _queue_name: str | None = None,
        _defer_until: Any = None,
        _defer_by: Any = None,
        **kwargs: Any,
    ) -> Any:
        job = await super().enqueue_job(
            function,
            *args,
            _job_id=_job_id,
            _queue_name=_queue_name,
            _defer_until=_defer_until,
            _defer_by=_defer_by,
            **kwargs,
        )
        if job is not None and _defer_until is None and not _defer_by:
            await self.wake(_queue_name or self.default_queue_name)
        return job

    async def wake(self, queue_name: str) -> None:
        try:
            await self.publish(wake_channel(queue_name), b"1")
        except RedisError:
            # The workers still look at their queues on their own; only speed is lost.
            log.debug("wake-up for %s not sent", queue_name, exc_info=True)


# --- this process's heartbeat, leases and wake-ups -----------------------------------------


class Presence:
    """This process's heartbeat, the leases of the jobs it runs, and its wake-ups."""

    def __init__(self, settings: Settings, queues: Sequence[str]) -> None:
        self.id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.period = max(settings.worker_heartbeat, 0.05)
        self.lease_ms = int(lease_seconds(settings) * 1000)
        self.queues = [QUEUES.get(q, q) for q in queues]
        self.redis: Redis = Redis.from_url(
            settings.redis_url, socket_connect_timeout=5, health_check_interval=30
        )
        self.held: dict[str, asyncio.Task[Any] | None] = {}
        self.started = time.time()
        self._events = {name: asyncio.Event() for name in self.queues}
        self._tasks: list[asyncio.Task[None]] = []
        self._claim = self.redis.register_script(_CLAIM)
        self._release = self.redis.register_script(_RELEASE)

    async def start(self) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self._beat()
        self._tasks = [
            asyncio.create_task(self._beat_loop(), name="presence:heartbeat"),
            asyncio.create_task(self._listen(), name="presence:wake-ups"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(RedisError, OSError):
            await self.redis.delete(worker_key(self.id))
        await self.redis.aclose()

    # -- leases --

    async def claim(self, job_id: str) -> str | None:
        """Take the job's lease; returns the live worker holding it instead, if one does."""
        if job_id in self.held:
            # Queued again (Redis lost its data) while this very process still runs it.
            return self.id
        holder = await self._claim(
            keys=[lease_key(job_id)], args=[self.id, self.lease_ms, keys.WORKER]
        )
        if holder:
            return holder.decode() if isinstance(holder, bytes) else str(holder)
        self.held[job_id] = asyncio.current_task()
        return None

    async def release(self, job_id: str) -> None:
        self.held.pop(job_id, None)
        try:
            await self._release(keys=[lease_key(job_id)], args=[self.id])
        except (RedisError, OSError):
            log.debug("lease of %s left to expire", job_id, exc_info=True)

    # -- wake-ups --

    async def wait(self, queue_name: str, timeout: float) -> None:
        """Until a job is enqueued on `queue_name` or a slot frees up, at most `timeout` s."""
        event = self._events.get(queue_name)
        if event is None:
            await asyncio.sleep(timeout)
            return
        # asyncio.timeout rather than wait_for: on Python 3.11 wait_for loses a cancellation
        # that arrives as the event is set, and the worker's loop would never stop.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await event.wait()
        event.clear()

    def nudge(self, queue_name: str) -> None:
        event = self._events.get(queue_name)
        if event is not None:
            event.set()

    # -- the loops --

    async def _beat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.period)
            try:
                await self._beat()
            except (RedisError, OSError) as exc:
                log.warning("heartbeat not recorded: %s", type(exc).__name__)

    async def _beat(self) -> None:
        info = {
            "id": self.id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "queues": [q.split(":", 1)[-1] for q in self.queues],
            "jobs": sorted(self.held),
            "started": self.started,
        }
        await self.redis.set(worker_key(self.id), json.dumps(info), px=self.lease_ms)
        for job_id, task in list(self.held.items()):
            holder = await self._claim(
                keys=[lease_key(job_id)], args=[self.id, self.lease_ms, keys.WORKER]
            )
            if holder and job_id in self.held:
                # Another worker took it while this one looked dead: only one may go on.
                log.error("job %s was taken over by %s; stopping it here", job_id, holder)
                if task is not None:
                    task.cancel()

    async def _listen(self) -> None:
        channels = {wake_channel(q): q for q in self.queues}
        failures = 0
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(*channels)
                failures = 0
                while True:
                    message = await pubsub.get_message(timeout=self.period)
                    if message is not None:
                        channel = message["channel"]
                        name = channel.decode() if isinstance(channel, bytes) else channel
                        self.nudge(channels.get(name, ""))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                log.debug("wake-up channel lost (%s); listening again", type(exc).__name__)
                await asyncio.sleep(min(0.5 * 2**failures, 10.0))
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
