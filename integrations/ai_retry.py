"""Calling an outside AI service (any OpenAI-compatible API): the one retry loop.

Speech-to-text (`integrations.stt.api`) and topics (`integrations.llm`) both call their
service through :func:`with_retries`, on a client made by :func:`client`. Rules it keeps:

- The SDK's own retries are off (``max_retries=0``), so this loop is the only one and every
  request keeps its own budget of ``Backoff.max_attempts`` tries in all.
- 429, 408, 409, 5xx, timeouts and dropped connections are transient and tried again; every
  other answer fails at once. Failures leave as the caller's subclass of
  :class:`integrations.ai_errors.AIServiceError`.
- Between tries it waits what the server's Retry-After asks (plus up to 10 %), or else
  ``base * 2**(n-1)`` seconds capped at ``cap``, half fixed and half random, so requests
  that failed together do not come back together.
- A Retry-After longer than :data:`MAX_RETRY_AFTER` fails at once ("the service asks to wait
  N s") rather than holding a worker; a transient fault still there after the last try says
  "gave up after N attempts". Both stay transient, so the stage is retried later.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import openai
from openai import AsyncOpenAI, Timeout

from integrations import openai_api
from integrations.ai_errors import UNAVAILABLE, AIServiceError

__all__ = ["MAX_RETRY_AFTER", "Backoff", "client", "with_retries"]

T = TypeVar("T")
E = TypeVar("E", bound=AIServiceError)

MAX_RETRY_AFTER = 120.0
"""Longest Retry-After worth sleeping through inside a job, in seconds."""

_NO_KEY = "no-key"


@dataclass(frozen=True)
class Backoff:
    """How often and how patiently a request is tried."""

    max_attempts: int = 5
    """Tries in all, the first one included."""
    base: float = 1.0
    """Seconds before the second try; each later wait doubles."""
    cap: float = 60.0
    """The longest wait between tries, in seconds."""

    def delay(self, attempt: int, asked: float = 0.0) -> float:
        """Seconds to wait after failed try number ``attempt`` (from 1)."""
        if asked:
            return asked * random.uniform(1.0, 1.1)
        ceiling = min(self.cap, self.base * 2 ** (attempt - 1))
        # Half fixed, half random: requests that failed together do not retry together.
        return ceiling / 2 + random.uniform(0, ceiling / 2)


def client(base_url: str, api_key: str | None, timeout: float) -> AsyncOpenAI:
    """An SDK client whose own retries are off: :func:`with_retries` does them."""
    return AsyncOpenAI(
        base_url=base_url,
        # Keyless local servers still need the SDK to be given something.
        api_key=api_key or _NO_KEY,
        max_retries=0,
        timeout=Timeout(timeout, connect=10.0),
    )


def _failure(exc: openai.APIStatusError, error: type[E]) -> tuple[E, float]:
    """The error for the service's answer, and how long it asked to wait before a retry."""
    kind, wait = openai_api.classify(exc)
    detail = f"HTTP {exc.status_code}: {openai_api.error_message(exc)}"
    return error(kind, detail, status=exc.status_code), wait


async def with_retries(
    send: Callable[[], Awaitable[T]],
    *,
    backoff: Backoff,
    error: type[AIServiceError],
    what: str,
    log: logging.Logger,
) -> T:
    """``send()``'s answer, tried again after transient failures as the module says.

    ``send`` raises the SDK's errors; they leave here as ``error``. ``what`` names the
    request in the warnings written to ``log`` before each new try.
    """
    attempts = max(1, backoff.max_attempts)
    attempt = 0
    while True:
        attempt += 1
        try:
            return await send()
        except openai.APIStatusError as exc:
            failed, wait = _failure(exc, error)
        except openai.APIConnectionError as exc:
            # APITimeoutError is a kind of connection error.
            failed, wait = error(UNAVAILABLE, exc.message), 0.0
        if not failed.transient:
            raise failed
        if attempt >= attempts:
            raise failed.with_note(f"gave up after {attempt} attempts")
        if wait > MAX_RETRY_AFTER:
            raise failed.with_note(f"the service asks to wait {wait:.0f} s")
        delay = backoff.delay(attempt, wait)
        log.warning(
            "%s failed (%s), attempt %d of %d; retrying in %.1f s",
            what,
            failed,
            attempt,
            attempts,
            delay,
        )
        await asyncio.sleep(delay)


async def gather_all(jobs: Sequence[Awaitable[T]]) -> list[T]:
    """Await requests together, results in order: the first failure cancels the rest (no
    point paying for answers that will be thrown away) and is raised."""
    tasks = [asyncio.ensure_future(job) for job in jobs]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in tasks:
        if not task.cancelled() and (failure := task.exception()) is not None:
            raise failure
    return [task.result() for task in tasks]
