"""Shared fixtures: Redis, a migrated database, the fake Bot API, the running bot."""

from __future__ import annotations

import os

# As the `leap` package does for the product (see leap/__init__.py), before numpy loads: a
# multi-threaded OpenBLAS can hang a process that starts children from several threads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import asyncio
import contextlib
import itertools
import random
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from redis import Redis as SyncRedis

from leap.settings import Settings
from storage import db
from storage.crypto import generate_key
from tests.fakes.telegram import FakeTelegram

TOKEN = "123456:TEST-token-for-the-fake-server"
TEST_SECRET_KEY = generate_key()


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


# Handed out in turn from a random start, so that a port given out is not given again soon.
_PORTS = itertools.count(random.randrange(0, 4000))


def _free_port() -> int:
    """A free port for a server a test starts, below the kernel's range for outgoing connections.

    A port picked inside that range (as binding port 0 does) can be taken by any client socket
    (Redis, HTTP) before the server binds it, and the server then fails to start.
    """
    low = _ephemeral_low()
    span = max(low - 16000, 1000)
    for _ in range(span):
        port = 16000 + next(_PORTS) % span
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")


def _reachable(url: str) -> bool:
    try:
        SyncRedis.from_url(url, socket_connect_timeout=1).ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """REDIS_URL when it answers; otherwise a private redis-server for this test run."""
    configured = os.environ.get("REDIS_URL")
    if configured and _reachable(configured):
        yield configured
        return
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("no Redis: set REDIS_URL or install redis-server")
    port = _free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while not _reachable(url):
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("redis-server did not start")
        time.sleep(0.05)
    yield url
    proc.terminate()
    proc.wait(5)


@pytest.fixture
def clean_redis(redis_url: str) -> str:
    SyncRedis.from_url(redis_url).flushdb()
    return redis_url


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'leap.db'}"
    db.upgrade(url)
    return url


@pytest.fixture
async def telegram(tmp_path: Path) -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram(TOKEN, files_dir=tmp_path / "bot-api-files")
    await fake.start()
    yield fake
    await fake.stop()


def make_settings(**overrides: object) -> Settings:
    return Settings(_env_file=None, **overrides)  # type: ignore[call-arg]


@pytest.fixture
def settings(
    tmp_path: Path, clean_redis: str, database_url: str, telegram: FakeTelegram
) -> Settings:
    return make_settings(
        telegram_bot_token=TOKEN,
        telegram_api_url=telegram.base_url,
        database_url=database_url,
        redis_url=clean_redis,
        storage_dir=tmp_path / "storage",
        web_port=_free_port(),
        progress_interval=0.2,
        throttle_rate=20.0,
        throttle_burst=20,
        secret_key=TEST_SECRET_KEY,
        shutdown_grace=5.0,
    )


@dataclass
class RunningBot:
    settings: Settings
    telegram: FakeTelegram
    task: asyncio.Task[None]
    stop: asyncio.Event


@contextlib.asynccontextmanager
async def running(settings: Settings, telegram: FakeTelegram) -> AsyncIterator[RunningBot]:
    """The `leap run` code path: bot polling, web server and both workers in this loop."""
    from leap.app import serve

    stop = asyncio.Event()
    ready = asyncio.Event()
    task = asyncio.create_task(serve(settings, stop=stop, ready=ready))
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED, timeout=30)
    if task.done():
        waiter.cancel()
        task.result()
    try:
        yield RunningBot(settings, telegram, task, stop)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


@pytest.fixture
async def app(settings: Settings, telegram: FakeTelegram) -> AsyncIterator[RunningBot]:
    async with running(settings, telegram) as bot:
        yield bot


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


@pytest.fixture(scope="session")
def small_video(media_dir: Path) -> Path:
    """Eight seconds of 320×240 picture with a tone: a valid, quick-to-probe recording."""
    path = media_dir / "small.mp4"
    _ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=8",
        "-f", "lavfi", "-i", "sine=f=440:d=8",
        "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest",
        "-movflags", "+faststart", str(path),
    )  # fmt: skip
    return path


@pytest.fixture(scope="session")
def big_video(media_dir: Path) -> Path:
    """A real video just over 25 MB: too big for the cloud Bot API, fine for a local one."""
    path = media_dir / "big.mp4"
    _ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=s=640x360:r=25:d=12",
        "-f", "lavfi", "-i", "sine=f=440:d=12",
        "-vf", "noise=alls=60:allf=t",
        "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "18M", "-maxrate", "18M",
        "-bufsize", "4M", "-c:a", "aac", "-shortest", str(path),
    )  # fmt: skip
    assert path.stat().st_size > 25 * 1024 * 1024 * 0.95
    return path
