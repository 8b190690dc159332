"""Looking at a link in a process of its own, so that a deadline can end all of it.

A thread cannot be stopped: a page that sends a byte every few seconds would keep one busy
long after anyone waits for the answer, and in `leap run` those threads are the ones stages
work in. So each look runs `links.inspect` in a child process, with the address guard and
the byte budget of `integrations.links` inside it, and:

- the child has `seconds` of wall-clock time, from start to answer; then it and anything it
  started (its own process group) are killed, so its sockets close and nothing of the look
  goes on. The same happens when the caller is cancelled.
- the child dies with the process that started it (`pipeline.ffmpeg_cmd.child_options`),
  even when that one is killed outright.
- the child gets the request on stdin and answers with one line of JSON on stdout, read
  within a limit; it is handed no secrets: only the environment a Python program and its
  proxies need.
- its memory is capped (MEMORY_LIMIT) as a last resort behind the byte budget: a look that
  goes wrong fails alone instead of pressing the machine the bot runs on.

How many looks run at once is the caller's to bound (`bot.handlers.links`).

Run as `python -m integrations.link_probe` it is that child.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from integrations import links
from integrations.links import LinkError, LinkLimits, Playlist, Video
from integrations.url_guard import AddressGuard
from pipeline.ffmpeg_cmd import child_options

log = logging.getLogger(__name__)

ANSWER_MAX_BYTES = 1_000_000
"""A playlist's worth of titles and addresses fits many times over."""
MEMORY_LIMIT = 2 * 1024**3
"""Address space of the child: yt-dlp within the page budget needs a fraction of it."""
_REQUEST_MAX_BYTES = 100_000
_STDERR_KEPT = 4000
_ROOT = Path(__file__).resolve().parents[1]
# What the child needs from the environment: finding Python and its packages, locale and
# time, certificates, and the proxies yt-dlp honours. Tokens and keys stay behind.
_PASSED = frozenset(
    {"PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "PYTHONPATH"}
    | {"SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"}
)


async def inspect(
    url: str,
    limits: LinkLimits,
    *,
    allow_private: bool,
    proxy: str | None,
    seconds: float,
) -> Video | Playlist:
    """What `links.inspect` finds at `url`, found by a child that lives at most `seconds`.

    LinkError as `links.inspect` raises it; `link_timeout` when the deadline passed.
    """
    request = json.dumps(
        {
            "url": url,
            "limits": asdict(limits),
            "allow_private": allow_private,
            "proxy": proxy,
        }
    ).encode()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "integrations.link_probe",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=_child_env(),
        # Its own process group: the deadline ends whatever it started, too.
        start_new_session=True, **child_options(),
    )  # fmt: skip
    try:
        answer, errors = await asyncio.wait_for(_talk(proc, request), seconds)
    except TimeoutError as exc:
        log.info("looking at a link took over %.0f s; stopped", seconds)
        raise LinkError("link_timeout", {"seconds": round(seconds)}) from exc
    finally:
        if proc.returncode is None:
            # Killed before it is reaped, so the group is still the child's own.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await asyncio.shield(proc.wait())
    return _result(answer, errors, proc.returncode)


async def _talk(proc: asyncio.subprocess.Process, request: bytes) -> tuple[bytes, bytes]:
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        # A child that died at start says so by its missing answer.
        proc.stdin.write(request)
        await proc.stdin.drain()
        proc.stdin.close()
    answer, errors = await asyncio.gather(
        _read_within(proc.stdout, ANSWER_MAX_BYTES + 1), _tail(proc.stderr, _STDERR_KEPT)
    )
    await proc.wait()
    return answer, errors


async def _read_within(stream: asyncio.StreamReader, limit: int) -> bytes:
    """Up to `limit` bytes, then the rest is drained unread so the child never blocks."""
    data = bytearray()
    while chunk := await stream.read(65536):
        if len(data) < limit:
            data += chunk[: limit - len(data)]
    return bytes(data)


async def _tail(stream: asyncio.StreamReader, keep: int) -> bytes:
    data = b""
    while chunk := await stream.read(65536):
        data = (data + chunk)[-keep:]
    return data


def _result(answer: bytes, errors: bytes, returncode: int | None) -> Video | Playlist:
    try:
        if len(answer) > ANSWER_MAX_BYTES:
            raise ValueError("answer too long")
        found = json.loads(answer)
        if "error" in found:
            error = found["error"]
            raise LinkError(str(error["code"]), dict(error.get("params") or {}))
        return _decode(found["found"])
    except (ValueError, KeyError, TypeError) as exc:
        tail = errors.decode("utf-8", "replace").strip()[-1000:]
        log.warning("looking at a link failed (exit %s): %s", returncode, tail or exc)
        raise LinkError("link_failed") from exc


def _encode(found: Video | Playlist) -> dict[str, Any]:
    kind = "playlist" if isinstance(found, Playlist) else "video"
    return {"kind": kind, **asdict(found)}


def _decode(data: dict[str, Any]) -> Video | Playlist:
    if data["kind"] == "playlist":
        return Playlist(
            url=str(data["url"]),
            title=str(data["title"]),
            videos=tuple(Video(**video) for video in data["videos"]),
            total=data["total"],
        )
    return Video(**{k: v for k, v in data.items() if k != "kind"})


def _child_env() -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if name in _PASSED or name.lower().endswith("_proxy")
    }
    # This package, found where this module is, whether installed or not.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_ROOT), env.get("PYTHONPATH")]))
    return env


# --- the child -------------------------------------------------------------------------


def _limit_memory() -> None:
    with contextlib.suppress(ImportError, ValueError, OSError):
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def main() -> None:
    # The answer goes to the real stdout; anything else that prints goes to stderr.
    answer_out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s: %(message)s")
    _limit_memory()
    answer: dict[str, Any]
    try:
        request = json.loads(sys.stdin.buffer.read(_REQUEST_MAX_BYTES))
        found = links.inspect(
            str(request["url"]),
            AddressGuard(allow_private=bool(request["allow_private"])),
            LinkLimits(**request["limits"]),
            proxy=request["proxy"],
        )
        answer = {"found": _encode(found)}
    except LinkError as exc:
        answer = {"error": {"code": exc.code, "params": exc.params}}
    except Exception:
        log.exception("looking at a link failed")
        answer = {"error": {"code": "link_failed"}}
    answer_out.write(json.dumps(answer, ensure_ascii=False))
    answer_out.close()


if __name__ == "__main__":
    main()
