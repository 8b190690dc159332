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
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramBadRequest

ProgressCallback = Callable[[int, int | None], Awaitable[None]]

CHUNK = 1 << 20


class TelegramFileError(Exception):
    """The file cannot be had; `code` is 'file_too_big' or 'download_failed'."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


def make_bot(token: str, api_url: str, *, local: bool = False) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_url.rstrip("/"), is_local=local))
    return Bot(token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))


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
        raise TelegramFileError("download_failed", f"got {size} of {info.file_size} bytes")
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
                if response.status_code != 200:
                    raise TelegramFileError("download_failed", f"HTTP {response.status_code}")
                with part.open("wb") as fh:
                    async for chunk in response.aiter_bytes(CHUNK):
                        fh.write(chunk)
                        done += len(chunk)
                        if on_progress is not None:
                            await on_progress(done, total)
    except httpx.HTTPError as exc:
        part.unlink(missing_ok=True)
        raise TelegramFileError("download_failed", type(exc).__name__) from exc
    return done


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
