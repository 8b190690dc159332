"""Telegram's Bot API as the workers need it: a Bot for the configured server, file downloads."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType

ProgressCallback = Callable[[int, int | None], Awaitable[None]]

CHUNK = 1 << 20


class TelegramFileError(Exception):
    """The file cannot be had; `code` is 'file_too_big' or 'download_failed'.

    `transient` says the same download may well work later (a dropped connection, a 5xx, a
    429, Telegram's own flood answer); `retry_after` is the wait Telegram asked for, if any.
    """

    def __init__(
        self,
        code: str,
        detail: str = "",
        *,
        transient: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail
        self.transient = transient
        self.retry_after = retry_after


def make_bot(token: str, api_url: str, *, local: bool = False) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_url.rstrip("/"), is_local=local))
    session.middleware(KeepResponseTypes())
    return Bot(token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))


# Response models already built, held here so that they stay built (see KeepResponseTypes).
_RESPONSE_TYPES: dict[object, object] = {}


class KeepResponseTypes(BaseRequestMiddleware):
    """Keeps alive the `Response[T]` model aiogram parses each answer with.

    pydantic caches parametrised models only weakly, and a class lives in reference cycles,
    so every garbage collection dropped them and the next call built them again: under a
    hundred commands a second that rebuilding was a fifth of the bot's CPU time.
    """

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        returning = method.__returning__
        if returning not in _RESPONSE_TYPES:
            _RESPONSE_TYPES[returning] = Response[returning]  # type: ignore[valid-type]
        return await make_request(bot, method)


async def download(
    bot: Bot, file_id: str, dest: Path, *, on_progress: ProgressCallback | None = None
) -> int:
    """Fetch a file into `dest` (written under a temporary name first); returns its size.

    Cloud servers are read over HTTP in chunks; a local Bot API server hands out a path on its
    disk, which we copy, so both report progress the same way.
    """
    try:
        info = await bot.get_file(file_id)
    except TelegramBadRequest as exc:
        if "too big" in exc.message.lower():
            raise TelegramFileError("file_too_big", exc.message) from exc
        raise TelegramFileError("download_failed", exc.message) from exc
    except TelegramRetryAfter as exc:
        raise TelegramFileError(
            "download_failed", exc.message, transient=True, retry_after=exc.retry_after
        ) from exc
    except (TelegramNetworkError, TelegramServerError) as exc:
        raise TelegramFileError("download_failed", exc.message, transient=True) from exc
    if not info.file_path:
        raise TelegramFileError("download_failed", "no file path")

    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    api = bot.session.api
    if api.is_local:
        source = Path(api.wrap_local_file.to_local(info.file_path))
        size = await _copy(source, part, info.file_size, on_progress)
    else:
        url = api.file_url(bot.token, info.file_path)
        size = await _stream(url, part, info.file_size, on_progress)
    if info.file_size and size != info.file_size:
        part.unlink(missing_ok=True)
        # A body cut short is the connection's doing, not the file's.
        raise TelegramFileError(
            "download_failed", f"got {size} of {info.file_size} bytes", transient=True
        )
    part.replace(dest)
    return size


async def _stream(
    url: str, part: Path, total: int | None, on_progress: ProgressCallback | None
) -> int:
    done = 0
    timeout = httpx.Timeout(60.0, connect=15.0)
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            async with client.stream("GET", url) as response:
                status = response.status_code
                if status != 200:
                    raise TelegramFileError(
                        "download_failed",
                        f"HTTP {status}",
                        transient=status >= 500 or status == 429,
                        retry_after=_retry_after(response.headers.get("Retry-After")),
                    )
                with part.open("wb") as fh:
                    async for chunk in response.aiter_bytes(CHUNK):
                        fh.write(chunk)
                        done += len(chunk)
                        if on_progress is not None:
                            await on_progress(done, total)
    except TelegramFileError:
        part.unlink(missing_ok=True)
        raise
    except httpx.HTTPError as exc:
        part.unlink(missing_ok=True)
        transient = isinstance(exc, httpx.TransportError)
        raise TelegramFileError("download_failed", type(exc).__name__, transient=transient) from exc
    return done


def _retry_after(value: str | None) -> float | None:
    try:
        return max(float(value), 0.0) if value else None
    except ValueError:
        return None


async def _copy(
    source: Path, part: Path, total: int | None, on_progress: ProgressCallback | None
) -> int:
    if not source.is_file():
        raise TelegramFileError("download_failed", "the Bot API server's file is not reachable")
    total = total or source.stat().st_size
    loop = asyncio.get_running_loop()
    done = 0

    def copy_block(src, dst) -> int:  # type: ignore[no-untyped-def]
        block = src.read(16 * CHUNK)
        dst.write(block)
        return len(block)

    with source.open("rb") as src, part.open("wb") as dst:
        while True:
            n = await loop.run_in_executor(None, copy_block, src, dst)
            if n == 0:
                break
            done += n
            if on_progress is not None:
                await on_progress(done, total)
    shutil.copystat(source, part)
    return done
