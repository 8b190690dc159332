"""An OpenAI-compatible API server for tests.

`FakeOpenAI` listens on 127.0.0.1 and answers the real ``openai`` SDK the way
OpenAI and the services that copy its API do:

- ``POST /v1/audio/transcriptions`` (multipart) "transcribes" each upload by
  asking ``transcriber(upload)`` for the phrases in it, then renders them in the
  requested ``response_format``. ``style`` picks the provider's dialect:
  ``"openai"`` (verbose_json segments, plus words when asked), ``"words"`` (only
  words, as some Whisper hosts answer), ``"segments"`` (never words) or
  ``"text"`` (plain text, whatever was asked). ``reject`` makes it refuse
  ``timestamp_granularities`` or ``verbose_json`` with a 400, as some do. A ``prompt``
  longer than ``max_prompt_chars`` is refused with a 400 (Whisper reads 224 tokens of it).
- ``POST /v1/chat/completions`` answers from ``chat_replies`` (a queue of
  strings, callables or faults) or the ``chat`` callback; ``chat_check`` may refuse a
  request whose body is not what the client should send (400, logged in ``refused``).

Faults are queued per endpoint with :meth:`FakeOpenAI.fail` and used by the next
requests in arrival order: a status (429 with Retry-After, 500, 503...), a delay,
or a dropped connection. ``latency`` delays every answer. ``requests`` logs what
arrived, and ``max_in_flight`` the most requests each endpoint held at once::

    async with FakeOpenAI() as api:
        api.transcriber = lambda upload: [Phrase(0.5, 2.0, "Hello there.")]
        api.fail("transcriptions", Fault(429, retry_after=0))
        client = AsyncOpenAI(base_url=api.base_url, api_key=api.api_key, max_retries=0)
        ...
        assert api.max_in_flight["transcriptions"] <= 4
"""

from __future__ import annotations

import asyncio
import io
import subprocess
import tempfile
import time
import wave
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from aiohttp import web

from tests.fakes.server import FakeServer, listen

TRANSCRIPTIONS = "transcriptions"
CHAT = "chat"
Endpoint = Literal["transcriptions", "chat"]
Style = Literal["openai", "words", "segments", "text"]


@dataclass(frozen=True)
class Phrase:
    """Speech in an uploaded chunk, in seconds from the chunk's start."""

    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Upload:
    """One audio file as the transcription endpoint received it."""

    index: int
    """Arrival order among the transcription requests that got this far (from 0)."""
    filename: str
    data: bytes
    params: dict[str, Any]
    duration: float
    """Seconds of audio, from the WAV header or ffprobe."""


@dataclass(frozen=True)
class Fault:
    """What goes wrong with one request: a status, a delay first, or a dropped connection."""

    status: int | None = None
    retry_after: float | None = None
    delay: float = 0.0
    reset: bool = False
    message: str = ""
    code: str | None = None


@dataclass
class Recorded:
    """One request as the server saw it."""

    endpoint: str
    received: float
    """``time.monotonic()`` when the request arrived."""
    size: int
    model: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    status: int = 0
    finished: float = 0.0
    authorization: str = ""


ChatReply = str | Fault | Callable[[dict[str, Any]], str]
Transcriber = Callable[[Upload], Sequence[Phrase] | str]


def _error(status: int, message: str, kind: str, code: str | None = None) -> web.Response:
    payload = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return web.json_response(payload, status=status)


def _words(phrase: Phrase) -> list[dict[str, Any]]:
    """The phrase's words with times spread over it by their length (API style: bare words)."""
    tokens = phrase.text.split()
    total = sum(len(t) + 1 for t in tokens) or 1
    span = phrase.end - phrase.start
    words: list[dict[str, Any]] = []
    position = 0
    for token in tokens:
        start = phrase.start + span * position / total
        position += len(token) + 1
        words.append(
            {
                "word": token,
                "start": round(start, 3),
                "end": round(phrase.start + span * position / total, 3),
            }
        )
    return words


async def _audio_seconds(data: bytes, filename: str) -> float:
    try:
        with wave.open(io.BytesIO(data)) as fh:
            return fh.getnframes() / fh.getframerate()
    except (wave.Error, EOFError):
        pass
    suffix = Path(filename).suffix or ".bin"
    with tempfile.NamedTemporaryFile(suffix=suffix) as tmp:
        tmp.write(data)
        tmp.flush()
        command = ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0"]
        proc = await asyncio.create_subprocess_exec(
            *command, tmp.name, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        out, _ = await proc.communicate()
    try:
        return float(out.decode().strip())
    except ValueError:
        return 0.0


class FakeOpenAI(FakeServer):
    def __init__(
        self,
        api_key: str | None = "sk-test-key",
        *,
        models: set[str] | None = None,
        max_upload_bytes: int = 25 * 1024 * 1024,
    ) -> None:
        self.api_key = api_key
        """Requests must carry ``Bearer <api_key>``; None accepts any key."""
        self.models = models
        """Model names that exist; None accepts any."""
        self.max_upload_bytes = max_upload_bytes
        self.transcriber: Transcriber = lambda upload: []
        self.style: Style | Callable[[Upload], Style] = "openai"
        self.language = "english"
        self.reject: set[str] = set()
        self.max_prompt_chars = 896
        """Request features to refuse with 400: "timestamp_granularities", "verbose_json"."""
        self.chat_replies: deque[ChatReply] = deque()
        self.chat: Callable[[dict[str, Any]], str] | None = None
        self.chat_check: Callable[[dict[str, Any]], str | None] | None = None
        """Checks each chat request's body; a problem it names is a 400 and goes to `refused`."""
        self.refused: list[str] = []
        self.latency = 0.0
        self.faults: dict[str, deque[Fault]] = {TRANSCRIPTIONS: deque(), CHAT: deque()}
        self.requests: list[Recorded] = []
        self.in_flight: Counter[str] = Counter()
        self.max_in_flight: Counter[str] = Counter()
        self.base_url = ""
        self._uploads = 0
        self._activity = asyncio.Event()
        self._runner: web.AppRunner | None = None

    # -- test helpers ---------------------------------------------------------------

    def fail(self, endpoint: Endpoint, *faults: Fault) -> None:
        """Queue faults for the next requests to ``endpoint``, one each, in order."""
        self.faults[endpoint].extend(faults)

    def reply(self, *replies: ChatReply) -> None:
        """Queue chat completion answers (message contents, callables or faults)."""
        self.chat_replies.extend(replies)

    def calls(self, endpoint: Endpoint) -> list[Recorded]:
        return [r for r in self.requests if r.endpoint == endpoint]

    async def until_in_flight(self, endpoint: Endpoint, count: int) -> None:
        """Wait until ``endpoint`` holds at least ``count`` unanswered requests."""
        while self.in_flight[endpoint] < count:
            self._activity.clear()
            await self._activity.wait()

    # -- server ---------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=self.max_upload_bytes * 2)
        app.router.add_post("/v1/audio/transcriptions", self._transcriptions)
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner, root = await listen(app, handler_cancellation=True)
        self.base_url = f"{root}/v1"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _guard(self, request: web.Request, record: Recorded) -> web.StreamResponse | None:
        """Authentication, queued faults and latency; an answer means "stop here"."""
        record.authorization = request.headers.get("Authorization", "")
        if self.api_key is not None and record.authorization != f"Bearer {self.api_key}":
            return _error(
                401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
            )
        queue = self.faults[record.endpoint]
        fault = queue.popleft() if queue else None
        delay = self.latency + (fault.delay if fault else 0.0)
        if delay:
            await asyncio.sleep(delay)
        if fault is None:
            return None
        if fault.reset:
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=500)
        if fault.status is None:
            return None
        response = _error(
            fault.status,
            fault.message or f"Simulated failure {fault.status}.",
            "rate_limit_exceeded" if fault.status == 429 else "server_error",
            fault.code,
        )
        if fault.retry_after is not None:
            response.headers["Retry-After"] = f"{fault.retry_after:g}"
        return response

    async def _handle(
        self,
        request: web.Request,
        endpoint: str,
        answer: Callable[[web.Request, Recorded], Any],
    ) -> web.StreamResponse:
        record = Recorded(endpoint, time.monotonic(), request.content_length or 0)
        self.requests.append(record)
        self.in_flight[endpoint] += 1
        self.max_in_flight[endpoint] = max(self.max_in_flight[endpoint], self.in_flight[endpoint])
        self._activity.set()
        try:
            response = await self._guard(request, record)
            if response is None:
                response = await answer(request, record)
            dropped = request.transport is None or request.transport.is_closing()
            # A dropped connection answered nothing; 0 says so in the log.
            record.status = 0 if dropped else response.status
            return response
        finally:
            self.in_flight[endpoint] -= 1
            record.finished = time.monotonic()
            self._activity.set()

    # -- transcriptions -------------------------------------------------------------

    async def _transcriptions(self, request: web.Request) -> web.StreamResponse:
        return await self._handle(request, TRANSCRIPTIONS, self._transcribe)

    async def _transcribe(self, request: web.Request, record: Recorded) -> web.Response:
        form = await request.post()
        params: dict[str, Any] = {}
        upload_field = None
        for key, value in form.items():
            if isinstance(value, web.FileField):
                upload_field = value
                continue
            if key.endswith("[]"):
                params.setdefault(key[:-2], []).append(value)
            else:
                params[key] = value
        record.params = params
        record.model = params.get("model")
        if upload_field is None:
            return _error(400, "Missing required parameter: 'file'.", "invalid_request_error")
        data = upload_field.file.read()
        record.size = len(data)
        if len(data) > self.max_upload_bytes:
            return _error(413, "Maximum content size limit exceeded.", "invalid_request_error")
        if self.models is not None and record.model not in self.models:
            return _error(
                404,
                f"The model `{record.model}` does not exist.",
                "invalid_request_error",
                "model_not_found",
            )
        if len(str(params.get("prompt", ""))) > self.max_prompt_chars:
            return _error(400, "prompt is too long", "invalid_request_error")
        granularities = params.get("timestamp_granularities", [])
        response_format = params.get("response_format", "json")
        if "timestamp_granularities" in self.reject and granularities:
            return _error(400, "timestamp_granularities is not supported", "invalid_request_error")
        if "verbose_json" in self.reject and response_format == "verbose_json":
            return _error(
                400,
                f"response_format 'verbose_json' is not compatible with model '{record.model}'",
                "invalid_request_error",
            )

        upload = Upload(
            index=self._uploads,
            filename=upload_field.filename,
            data=data,
            params=params,
            duration=await _audio_seconds(data, upload_field.filename),
        )
        self._uploads += 1
        heard = self.transcriber(upload)
        phrases = [Phrase(0.0, upload.duration, heard)] if isinstance(heard, str) else list(heard)
        text = " ".join(p.text.strip() for p in phrases if p.text.strip())
        style = self.style(upload) if callable(self.style) else self.style

        if style == "text" or response_format == "text":
            return web.Response(text=text + "\n", content_type="text/plain")
        if response_format != "verbose_json":
            return web.json_response({"text": text})
        body: dict[str, Any] = {
            "task": "transcribe",
            "language": self.language,
            "duration": upload.duration,
            "text": text,
        }
        want_words = "word" in granularities
        if style == "words":
            body["words"] = [w for p in phrases for w in _words(p)]
            return web.json_response(body)
        if not granularities or "segment" in granularities or style == "segments":
            body["segments"] = [
                {
                    "id": i,
                    "seek": 0,
                    "start": p.start,
                    "end": p.end,
                    "text": " " + p.text.strip(),
                    "tokens": [],
                    "temperature": 0.0,
                    "avg_logprob": -0.2,
                    "compression_ratio": 1.2,
                    "no_speech_prob": 0.01,
                }
                for i, p in enumerate(phrases)
            ]
        if want_words and style == "openai":
            body["words"] = [w for p in phrases for w in _words(p)]
        return web.json_response(body)

    # -- chat -----------------------------------------------------------------------

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        return await self._handle(request, CHAT, self._complete)

    async def _complete(self, request: web.Request, record: Recorded) -> web.Response:
        body = await request.json()
        record.body = body
        record.model = body.get("model")
        record.params = {k: v for k, v in body.items() if k != "messages"}
        if self.models is not None and record.model not in self.models:
            return _error(
                404,
                f"The model `{record.model}` does not exist.",
                "invalid_request_error",
                "model_not_found",
            )
        problem = self.chat_check(body) if self.chat_check is not None else None
        if problem:
            self.refused.append(problem)
            return _error(400, problem, "invalid_request_error")
        reply: ChatReply | None = None
        if self.chat_replies:
            reply = self.chat_replies.popleft()
        elif self.chat is not None:
            reply = self.chat
        if reply is None:
            return _error(500, "No scripted reply for this request.", "server_error")
        if isinstance(reply, Fault):
            if reply.delay:
                await asyncio.sleep(reply.delay)
            response = _error(
                reply.status or 500, reply.message or "Simulated failure.", "server_error"
            )
            if reply.retry_after is not None:
                response.headers["Retry-After"] = f"{reply.retry_after:g}"
            return response
        content = reply if isinstance(reply, str) else reply(body)
        prompt_chars = sum(len(str(m.get("content", ""))) for m in body.get("messages", []))
        return web.json_response(
            {
                "id": f"chatcmpl-{len(self.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": record.model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                        "logprobs": None,
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_chars // 4,
                    "completion_tokens": len(content) // 4,
                    "total_tokens": (prompt_chars + len(content)) // 4,
                },
            }
        )
