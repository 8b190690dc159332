"""Templates rendered where a costly one cannot stall anything: in a child process.

Rules:
- The bot and the workers never render a person's template in their own process.
  `compose_metadata` hands the work to a renderer, a long-lived child Python that serves
  one render after another (a render costs about a millisecond there, starting one about
  0.2 s), and waits for the answer on a thread of this module's own pool: the event loop
  only awaits.
- Inside, `pipeline.templates` keeps its budgets, which refuse a costly template with a
  message long before any limit here is reached; these limits are the guard behind them.
  A renderer's address space is limited (RLIMIT_AS), each render gets a few seconds of CPU
  (RLIMIT_CPU), and a render not answered within its deadline of wall-clock time is ended
  by killing the renderer: the next render starts a fresh one. Either way the caller gets
  TemplateTooCostly.
- At most RENDERERS renders run at once; more wait for a free renderer, each of them at
  most one deadline.
- A renderer holds nothing worth stealing: it starts with an empty environment (no tokens
  or keys), dies with the thread that started it (PR_SET_PDEATHSIG, see
  `pipeline.ffmpeg_cmd.child_options`) and ends when its stdin closes.
- Requests and answers are single JSON lines: the template as its model dump, facts as
  JSON values (a date becomes its ISO text, which templates format the same way), the
  topics and the duration.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import resource
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError
from pydantic_core import to_jsonable_python

from pipeline import templates
from pipeline.ffmpeg_cmd import child_options
from pipeline.topics import Topics

__all__ = ["DEADLINE", "RENDERERS", "compose_metadata", "serve"]

RENDERERS = 2
# Wall-clock seconds one render may take in its renderer, from request to answer. The
# composition's own budget (templates.RENDER_SECONDS) ends a costly one well before.
DEADLINE = 1.5
# CPU seconds per render, counted by the kernel; a renderer over it is killed (SIGXCPU).
CPU_SECONDS = 3
MEMORY_BYTES = 512 * 1024 * 1024
# A renderer imports pydantic and Jinja before it says it is ready (about 0.2 s when idle).
START_SECONDS = 20.0

_ROOT = str(Path(__file__).resolve().parents[1])
_BOOT = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from pipeline.template_runner import serve; serve()"
)
_READY = b"ready"
# How long a renderer whose output closed is given to finish exiting.
_EXIT_SECONDS = 2.0
_TOO_LONG = "The template took too long to render."
_TOO_MUCH = "The template needs too much memory or time."


async def compose_metadata(
    template: templates.Template,
    facts: Mapping[str, Any],
    topics: Topics,
    duration: float,
    *,
    deadline: float = DEADLINE,
) -> templates.Metadata:
    """`templates.compose_metadata` in a renderer process; the caller's event loop only waits.

    Raises TemplateTooCostly when the template exceeds a budget or the renderer had to be
    killed, TemplateError when it cannot render, RuntimeError when no renderer could run.
    """
    request = _request(template, facts, topics, duration)
    answer = await asyncio.wrap_future(_pool(os.getpid()).submit(_ask, request, deadline))
    if "metadata" in answer:
        return templates.Metadata.model_validate(answer["metadata"])
    if "costly" in answer:
        raise templates.TemplateTooCostly(str(answer["costly"]))
    if "error" in answer:
        raise templates.TemplateError(str(answer["error"]))
    raise RuntimeError(f"template renderer failed: {answer.get('failed')}")


def _request(
    template: templates.Template, facts: Mapping[str, Any], topics: Topics, duration: float
) -> bytes:
    body = {
        "template": template.model_dump(mode="json"),
        "facts": to_jsonable_python(
            {k: v for k, v in facts.items() if isinstance(k, str)}, fallback=str
        ),
        "topics": topics.model_dump(mode="json"),
        "duration": duration,
    }
    # json.dumps escapes every newline inside strings: one request is one line.
    return json.dumps(body).encode("utf-8")


@functools.cache
def _pool(pid: int) -> ThreadPoolExecutor:
    # One pool per process (keyed by pid: a forked child must not share its parent's threads
    # or renderers). Each pool thread keeps its own renderer, so no renderer is shared.
    return ThreadPoolExecutor(RENDERERS, thread_name_prefix=f"template-renderer-{pid}")


_local = threading.local()


def _ask(request: bytes, deadline: float) -> dict[str, Any]:
    """One render on this thread's renderer, starting one when there is none (pool thread)."""
    for _attempt in range(2):
        renderer: _Renderer | None = getattr(_local, "renderer", None)
        if renderer is None or not renderer.alive():
            renderer = _local.renderer = _Renderer()
        try:
            return renderer.ask(request, deadline)
        except _Gone:
            # It died while idle (the OOM killer picks large processes, not only ours): that
            # says nothing about this template, so it gets a fresh renderer.
            _local.renderer = None
        except BaseException:
            _local.renderer = None
            renderer.kill()
            raise
    raise RuntimeError("template renderer keeps dying before it reads a request")


class _Gone(Exception):
    """The renderer was dead before it got the request."""


class _Renderer:
    """One renderer process and the pipes to it; used by one pool thread only."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-X", "utf8", "-c", _BOOT, _ROOT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={},
            **child_options(),
        )
        self.pending = b""
        self.ended = False
        if self._line(START_SECONDS) != _READY:
            self.kill()
            raise RuntimeError(f"template renderer did not start (exit {self.proc.returncode})")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def ask(self, request: bytes, deadline: float) -> dict[str, Any]:
        stdin = self._stdin()
        try:
            stdin.write(request + b"\n")
            stdin.flush()
        except OSError:
            self.kill()
            raise _Gone from None
        line = self._line(deadline)
        if line is None:
            if self.ended:
                # Its output closed: it is exiting, if the kernel has not reaped it yet.
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(_EXIT_SECONDS)
            overran = self.alive()
            self.kill()
            code = self.proc.returncode
            if overran:
                raise templates.TemplateTooCostly(_TOO_LONG)
            if code == -signal.SIGKILL:
                # Nothing of ours sends SIGKILL to a renderer at work and its memory is capped
                # below the kernel's reach: somebody else ended it, which says nothing about
                # the template, so it is asked again of a fresh renderer.
                raise _Gone
            if code is not None and code < 0:
                # Killed by the kernel: SIGXCPU past RLIMIT_CPU, or out of memory.
                raise templates.TemplateTooCostly(_TOO_MUCH)
            raise RuntimeError(f"template renderer exited with status {code}")
        answer = json.loads(line)
        if not isinstance(answer, dict):
            raise RuntimeError("template renderer answered nonsense")
        return answer

    def _stdin(self) -> IO[bytes]:
        assert self.proc.stdin is not None
        return self.proc.stdin

    def _line(self, seconds: float) -> bytes | None:
        """The next line the renderer writes; None at end of file or when time runs out."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        until = time.monotonic() + seconds
        while b"\n" not in self.pending:
            left = until - time.monotonic()
            if left <= 0 or not poller.poll(left * 1000):
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                self.ended = True
                return None
            self.pending += chunk
        line, _, self.pending = self.pending.partition(b"\n")
        return line

    def __del__(self) -> None:
        # A pool thread's locals go when the thread ends (at exit): its renderer goes with them.
        if self.proc.returncode is None:
            self.kill()

    def kill(self) -> None:
        if self.alive():
            self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                try:
                    pipe.close()
                except OSError:
                    pass


# --- the renderer's side ---------------------------------------------------------------------


def serve() -> None:
    """A renderer's life: one JSON request per line on stdin, one JSON answer per line out."""
    _limit(resource.RLIMIT_AS, MEMORY_BYTES, hard=True)
    # SIGXCPU dumps core by default: nothing of a killed render is worth a file.
    _limit(resource.RLIMIT_CORE, 0, hard=True)
    # What a first render builds once (Jinja's environment, pydantic's validators) is built
    # before "ready", within the start's time: on a busy machine it alone could take longer
    # than a render's deadline, and a template would be blamed for the renderer's start.
    _answer(_request(templates.DEFAULT_TEMPLATE, {"title": "ready"}, Topics(), 60.0))
    out = sys.stdout.buffer
    out.write(_READY + b"\n")
    out.flush()
    for line in sys.stdin.buffer:
        _limit_cpu()
        out.write(json.dumps(_answer(line)).encode("utf-8") + b"\n")
        out.flush()


def _answer(line: bytes) -> dict[str, Any]:
    try:
        request = json.loads(line)
        template = templates.Template.model_validate(request["template"])
        topics = Topics.model_validate(request["topics"])
        metadata = templates.compose_metadata(
            template, request["facts"], topics, float(request["duration"])
        )
    except templates.TemplateTooCostly as exc:
        return {"costly": str(exc)}
    except templates.TemplateError as exc:
        return {"error": str(exc)}
    except ValidationError as exc:
        return {"error": "; ".join(e["msg"] for e in exc.errors()[:3])}
    except MemoryError:
        return {"costly": _TOO_MUCH}
    except RecursionError:
        return {"costly": "The template nests too deeply."}
    except Exception as exc:  # a fault of ours: the caller must not blame the template
        return {"failed": f"{type(exc).__name__}: {exc}"}
    return {"metadata": metadata.model_dump(mode="json")}


def _limit_cpu() -> None:
    # RLIMIT_CPU counts the process's whole life, so each render gets its seconds on top of
    # what the renderer has used so far.
    usage = resource.getrusage(resource.RUSAGE_SELF)
    _limit(resource.RLIMIT_CPU, int(usage.ru_utime + usage.ru_stime) + CPU_SECONDS + 1)


def _limit(which: int, value: int, *, hard: bool = False) -> None:
    """Lower the soft limit (and the hard one too when ``hard``: it can never rise again)."""
    _soft, ceiling = resource.getrlimit(which)
    if ceiling != resource.RLIM_INFINITY:
        value = min(value, ceiling)
    resource.setrlimit(which, (value, value if hard else ceiling))
