"""Subtitles translated by any OpenAI-compatible chat API, batch by batch, each answer checked.

Rules it keeps:

- The cues go in batches (:func:`pipeline.translation.make_batches`): each request is one JSON
  object with the two languages named in English, the batch's cues by id and a few cues of
  context either side; at most ``concurrency`` requests are in flight, and the first failure
  cancels the rest.
- JSON mode is asked for; a service that refuses ``response_format`` is asked again at once
  without it (not counted as a try), and so is every later request.
- An answer that cannot be used (not JSON, the wrong cues, another language, the source
  copied back: :func:`pipeline.translation.read_answer`) gets one repair request that shows
  the model its answer and what is wrong with it; a second unusable answer raises
  ``TranslationError("bad_answer")`` naming the cues and the problem.
- Batches an earlier run finished (``known``) are not sent again; each batch finished now is
  handed to ``on_result`` at once, so a run that dies loses only the batches in flight.
- 429/5xx, timeouts and dropped connections are retried by
  :func:`integrations.ai_retry.with_retries`; every failure is a :class:`TranslationError`,
  the translation kind of :class:`integrations.ai_errors.AIServiceError`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar

import openai
from openai import AsyncOpenAI

from integrations import ai_retry, openai_api
from integrations.ai_errors import BAD_REQUEST, TOO_LARGE, AIServiceError
from integrations.ai_retry import Backoff
from integrations.llm.prompts import language_name
from pipeline.translation import (
    BATCH_SIZE,
    CONTEXT,
    Batch,
    Invalid,
    make_batches,
    read_answer,
    request_json,
)

log = logging.getLogger(__name__)

BAD_ANSWER = "bad_answer"
"""The model's answer could not be used, even after a repair request."""

SHAPE = '{"cues": [{"id": 1, "text": "..."}]}'

SYSTEM = """You translate the subtitles of a lecture from {source} into {target}.

The user sends one JSON object: "from" and "to" name the languages, "cues" are the
subtitles to translate, each with its "id", and "context_before" / "context_after" are the
subtitles around them, there only to be understood.

Answer with one JSON object and nothing else, in this shape:
{shape}

Rules:
- Exactly one item for every cue sent, with the same "id", in the same order.
- Translate each cue's text into {target}; when a sentence runs on into the next cue,
  keep each part in its own cue. Never merge, split, drop or add cues.
- Do not translate the context.
- Plain text on one line; keep numbers, formulas and names as a lecturer speaking {target}
  would say them."""


class TranslationError(AIServiceError):
    """The subtitles could not be translated; ``code`` is an AI service code or BAD_ANSWER."""

    RENAMED: ClassVar[dict[str, str]] = {TOO_LARGE: BAD_REQUEST}


Progress = Callable[[int, int], Awaitable[None]]
Finished = Callable[[int, list[str]], Awaitable[None]]


class _Translator:
    def __init__(
        self,
        client: AsyncOpenAI,
        *,
        source: str,
        model: str,
        temperature: float,
        backoff: Backoff,
    ) -> None:
        self.client = client
        self.source = source
        self.model = model
        self.temperature = temperature
        self.backoff = backoff
        self.json_mode = True

    async def batch(self, batch: Batch, system: str, target: str, target_named: str) -> list[str]:
        user = request_json(batch, language_name(self.source), target_named)
        content = await self._complete(system, user)
        try:
            return read_answer(content, batch, target, target_named)
        except Invalid as first:
            problem = str(first)
        ids = batch.ids
        log.info(
            "translation of cues %d-%d unusable (%s); asking once more", ids[0], ids[-1], problem
        )
        repair = (
            f"{user}\n\nYour answer before was:\n{(content or '')[:8000]}\n\n"
            f"That answer cannot be used: {problem}. Answer again with only the JSON object in "
            f"the shape {SHAPE}: exactly {len(ids)} cues, ids {ids[0]} to {ids[-1]}, each "
            f"translated into {target_named}."
        )
        content = await self._complete(system, repair)
        try:
            return read_answer(content, batch, target, target_named)
        except Invalid as second:
            raise TranslationError(
                BAD_ANSWER, f"cues {ids[0]}-{ids[-1]}, after a repair request: {second}"
            ) from None

    async def _complete(self, system: str, user: str) -> str | None:
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]

        async def once() -> str | None:
            while True:
                extra: dict[str, Any] = {}
                if self.json_mode:
                    extra["response_format"] = {"type": "json_object"}
                try:
                    reply = await self.client.chat.completions.create(
                        model=self.model,
                        messages=messages,  # type: ignore[arg-type]
                        temperature=self.temperature,
                        **extra,
                    )
                except openai.APIStatusError as exc:
                    if (
                        exc.status_code in (400, 422)
                        and self.json_mode
                        and "response_format" in openai_api.error_message(exc)
                    ):
                        # The prompt asks for JSON anyway; the reader takes it without the mode.
                        self.json_mode = False
                        continue
                    raise
                return reply.choices[0].message.content if reply.choices else None

        return await ai_retry.with_retries(
            once, backoff=self.backoff, error=TranslationError, what="translation request", log=log
        )


async def translate_texts(
    texts: Sequence[str],
    source: str,
    target: str,
    *,
    base_url: str,
    api_key: str | None,
    model: str,
    batch_size: int = BATCH_SIZE,
    context: int = CONTEXT,
    concurrency: int = 3,
    max_attempts: int = 5,
    backoff_base: float = 1.0,
    backoff_cap: float = 60.0,
    timeout: float = 180.0,
    temperature: float = 0.2,
    on_batch: Progress | None = None,
    client_factory: Callable[[], AsyncOpenAI] | None = None,
    known: Mapping[int, Sequence[str]] | None = None,
    on_result: Finished | None = None,
) -> list[str]:
    """Each of ``texts`` (one cue's words each) in ``target``, in order.

    ``on_batch(done, total)`` is awaited after each batch is translated. ``known`` holds
    batches translated before, by their index (an earlier run's ``on_result(index, texts)``):
    they are not asked again. Raises :class:`TranslationError`.
    """
    batches = make_batches(texts, batch_size, context)
    if not batches:
        return []
    kept = {
        i: list(found)
        for i, found in (known or {}).items()
        if 0 <= i < len(batches) and len(found) == len(batches[i].texts)
    }
    target_named = language_name(target)
    system = SYSTEM.format(source=language_name(source), target=target_named, shape=SHAPE)
    gate = asyncio.Semaphore(max(1, concurrency))
    done = len(kept)

    def default_client() -> AsyncOpenAI:
        return ai_retry.client(base_url, api_key, timeout)

    async with (client_factory or default_client)() as client:
        worker = _Translator(
            client,
            source=source,
            model=model,
            temperature=temperature,
            backoff=Backoff(max_attempts=max_attempts, base=backoff_base, cap=backoff_cap),
        )

        async def one(index: int, batch: Batch) -> list[str]:
            nonlocal done
            if index in kept:
                return kept[index]
            async with gate:
                translated = await worker.batch(batch, system, target, target_named)
            done += 1
            if on_result is not None:
                await on_result(index, translated)
            if on_batch is not None:
                await on_batch(done, len(batches))
            return translated

        parts = await ai_retry.gather_all([one(i, b) for i, b in enumerate(batches)])
    return [text for part in parts for text in part]
