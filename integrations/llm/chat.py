"""The topics model over a chat completions API: the error it raises, the repair round.

Rules it keeps:

- Every failure is a :class:`TopicsError`, the topics kind of
  :class:`integrations.ai_errors.AIServiceError`; its ``code`` is one of :data:`CODES`. A
  request too large for the model is a ``bad_request`` like any other refusal.
- Requests go through :func:`integrations.ai_retry.with_retries`, the loop speech-to-text
  uses too: 429/5xx, timeouts and dropped connections are retried with growing delays,
  honouring Retry-After.
- JSON mode is asked for; a service that refuses ``response_format`` is asked again at once
  without it (not counted as a try), and so is every later request of the lecture.
- An answer that is not the JSON asked for gets one repair round with the problem sent
  back (and a note when it was cut at the length limit); a second bad answer raises
  ``TopicsError("invalid_json")``.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import openai
from openai import AsyncOpenAI

from integrations import ai_retry, openai_api
from integrations.ai_errors import (
    AUTH,
    BAD_REQUEST,
    MODEL_MISSING,
    QUOTA,
    RATE_LIMITED,
    TOO_LARGE,
    UNAVAILABLE,
    AIServiceError,
)
from integrations.ai_retry import Backoff
from integrations.llm.prompts import SHAPE
from integrations.llm.reply import Invalid, parse_reply
from pipeline.topics import Topics

log = logging.getLogger(__name__)

INVALID_JSON = "invalid_json"
"""The model's answer was not the JSON asked for, even after a repair retry."""

CODES = frozenset(
    {AUTH, BAD_REQUEST, UNAVAILABLE, RATE_LIMITED, QUOTA, MODEL_MISSING, INVALID_JSON}
)


class TopicsError(AIServiceError):
    """Topics could not be had from the model; ``code`` is one of :data:`CODES`."""

    # A chat request too large for the model is the same fault as any other refusal here.
    RENAMED: ClassVar[dict[str, str]] = {TOO_LARGE: BAD_REQUEST}


class Chat:
    """Chat completions with our own retries and the JSON repair round."""

    def __init__(
        self,
        client: AsyncOpenAI,
        *,
        model: str,
        temperature: float,
        backoff: Backoff,
    ) -> None:
        self.client = client
        self.model = model
        self.temperature = temperature
        self.backoff = backoff
        self.json_mode = True

    async def topics(self, system: str, user: str) -> Topics:
        messages: list[dict[str, str]] = [
            {"role": "system", "content": system},
            {"role": "user", "content": user},
        ]
        content, finish = await self._complete(messages)
        try:
            return parse_reply(content)
        except Invalid as first:
            problem = str(first)
            if finish == "length":
                problem += "; the reply was cut off at the length limit, so keep it shorter"
            log.info("topics reply unusable (%s); asking for a repair", problem)
        messages += [
            {"role": "assistant", "content": (content or "")[:8000]},
            {
                "role": "user",
                "content": f"That reply cannot be used: {problem}. Answer again with only "
                f"the JSON object in the required shape:\n{SHAPE}",
            },
        ]
        content, _ = await self._complete(messages)
        try:
            return parse_reply(content)
        except Invalid as second:
            raise TopicsError(INVALID_JSON, f"after a repair retry: {second}") from None

    async def reply(self, system: str, user: str) -> str | None:
        """One answer, as the model wrote it; the caller reads and checks it."""
        content, _ = await self._complete(
            [{"role": "system", "content": system}, {"role": "user", "content": user}]
        )
        return content

    async def _complete(self, messages: list[dict[str, str]]) -> tuple[str | None, str | None]:
        async def once() -> tuple[str | None, str | None]:
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
                        # The prompt asks for JSON anyway; the parser takes it without the mode.
                        self.json_mode = False
                        continue
                    raise
                if not reply.choices:
                    return None, None
                choice = reply.choices[0]
                return choice.message.content, choice.finish_reason

        return await ai_retry.with_retries(
            once, backoff=self.backoff, error=TopicsError, what="topics request", log=log
        )
