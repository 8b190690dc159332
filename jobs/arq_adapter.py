"""The one place that reaches into arq's Worker: everything here leans on arq's private parts.

arq (maintenance-only upstream, pinned `arq==0.28.*`) polls its queue every `poll_delay`
seconds; a stage hop then waits up to half a second. Our workers wait for a wake-up instead
(2 ms per hop, bench/queue.py) and survive Redis faults. That takes four things arq does not
offer as an interface:

- `Worker._poll_iteration()`: one look at the queue; we wrap it to back off on Redis faults
  and then wait for a wake-up (`idle`) instead of sleeping `poll_delay` (set to 0);
- `Worker.start_jobs(job_ids)`: it takes a slot (`job_counter`, `sem`) before it reads the
  job; when Redis fails in between we give the slot back;
- `Worker._release_sem_dec_counter_on_complete()`: called when a job frees its slot; we
  look at the queue again at once (`slot_free`);
- the attributes `job_counter` (an int) and `sem` (an asyncio.Semaphore).

`check_arq()` confirms all of them are there in the installed arq, with the signatures
relied on, and `tests/jobs/test_arq_adapter.py` runs it, so an arq upgrade that changes any of
them fails loudly in the suite rather than quietly at run time. Subclasses override only the
public hooks below (`idle`, `slot_free`, `redis_fault`, `job_fault`).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
from importlib.metadata import version
from typing import Any

from arq.worker import Worker
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# What the overrides below were written against.
ARQ_SERIES = "0.28."
# Each method: its parameters, and whether it is a coroutine.
_PRIVATE_METHODS = {
    "_poll_iteration": (["self"], True),
    "start_jobs": (["self", "job_ids"], True),
    "_release_sem_dec_counter_on_complete": (["self"], False),
}
_PRIVATE_ATTRIBUTES = ("job_counter", "sem")


class ArqChanged(RuntimeError):
    """The installed arq no longer has what this module overrides."""


def check_arq() -> None:
    """Raise ArqChanged unless the installed arq is the series the overrides are made for."""
    found = version("arq")
    if not found.startswith(ARQ_SERIES):
        raise ArqChanged(f"arq {found} is installed; jobs.arq_adapter is written for {ARQ_SERIES}x")
    for name, (parameters, coroutine) in _PRIVATE_METHODS.items():
        method = getattr(Worker, name, None)
        if method is None or inspect.iscoroutinefunction(method) is not coroutine:
            raise ArqChanged(f"arq's Worker.{name} is gone or changed its kind")
        if list(inspect.signature(method).parameters) != parameters:
            raise ArqChanged(f"arq's Worker.{name} takes {inspect.signature(method)} now")
    source = inspect.getsource(Worker.__init__)
    for attribute in _PRIVATE_ATTRIBUTES:
        if not re.search(rf"self\.{attribute}\s*(:[^=\n]*)?=", source):
            raise ArqChanged(f"arq's Worker no longer sets self.{attribute}")


class WakeableWorker(Worker):
    """An arq Worker that waits for wake-ups between looks at its queue and outlives Redis
    faults; see the module for the arq internals this rests on."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # arq's own loop must not sleep: `_poll_iteration` waits in `idle` instead.
        super().__init__(*args, poll_delay=0, **kwargs)
        self._faults = 0

    # --- hooks for subclasses -------------------------------------------------------------

    async def idle(self) -> None:
        """Between two looks at the queue (a wake-up or a timeout ends the wait)."""
        await asyncio.sleep(0.5)

    def slot_free(self) -> None:
        """A running job ended; its slot may take the next job now."""

    async def redis_fault(self, exc: Exception, faults: int) -> None:
        """Redis failed `faults` times in a row; the next look waits until this returns."""
        await asyncio.sleep(min(0.25 * 2**faults, 10.0))

    def job_fault(self) -> None:
        """A job's bookkeeping failed (not the job: the recovery sweep finds that)."""
        log.exception("a job ended badly")

    # --- arq's internals ------------------------------------------------------------------

    async def _poll_iteration(self) -> None:
        try:
            await super()._poll_iteration()
        except (RedisError, OSError) as exc:
            self._faults += 1
            await self.redis_fault(exc, self._faults)
            return
        except Exception:
            self.job_fault()
        self._faults = 0
        await self.idle()

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        for job_id in job_ids:
            try:
                await super().start_jobs([job_id])
            except (RedisError, OSError):
                # arq had taken a slot for this job when Redis failed; give it back.
                self.job_counter -= 1
                self.sem.release()
                raise

    def _release_sem_dec_counter_on_complete(self) -> None:
        super()._release_sem_dec_counter_on_complete()
        self.slot_free()
