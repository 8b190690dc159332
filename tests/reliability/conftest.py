"""A deployment to break: the bot in this process, workers as real `leap worker` processes.

`Site` holds the fake outside services (Bot API, OpenAI-compatible speech API, Google),
a SQLite database, a storage folder and Redis, and starts workers with the environment an
operator would give them. Timings are shrunk (heartbeat 0.3 s, a recovery sweep every
second, retry waits at 1 %) so that recovering from a dead worker takes seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import web
from pydantic import SecretStr

from leap.settings import Settings
from storage import repo
from storage.crypto import SecretBox
from storage.db import create_engine, session_maker
from storage.files import MediaStore
from storage.models import Publication, Recording, RecordingStatus, StageRun
from tests.conftest import TEST_SECRET_KEY, TOKEN, _free_port, make_settings
from tests.fakes.google import FakeGoogle
from tests.fakes.openai import FakeOpenAI, Phrase, Upload
from tests.fakes.telegram import FakeTelegram

ROOT = Path(__file__).resolve().parents[2]

PHRASES = (
    "Good morning everyone.",
    "Today we talk about sampling a signal.",
    "A signal sampled too slowly shows aliasing.",
    "Next week we look at filters.",
)


def transcriber(upload: Upload) -> list[Phrase]:
    """Speech across the whole chunk, a phrase every two seconds."""
    found = []
    start = 0.3
    for text in PHRASES:
        if start + 1.5 > upload.duration:
            break
        found.append(Phrase(start, start + 1.5, text))
        start += 2.0
    return found


class HoldingTelegram(FakeTelegram):
    """The fake Bot API, able to stop a file download half-way until told to go on."""

    hold_downloads = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.download_held = asyncio.Event()
        self._go_on = asyncio.Event()

    def release_downloads(self) -> None:
        self.hold_downloads = False
        self._go_on.set()

    async def _handle_download(self, request: web.Request) -> web.StreamResponse:
        stored = self._files_by_path.get(request.match_info["path"])
        if not self.hold_downloads or stored is None:
            return await super()._handle_download(request)
        data = stored.path.read_bytes()
        response = web.StreamResponse()
        response.content_length = len(data)
        await response.prepare(request)
        await response.write(data[: len(data) // 2])
        self.download_held.set()
        await self._go_on.wait()
        await response.write(data[len(data) // 2 :])
        await response.write_eof()
        return response


@dataclass
class WorkerProcess:
    """One `leap worker` process and its log."""

    proc: subprocess.Popen[bytes]
    log_path: Path
    mark: Path
    go_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def go(self) -> None:
        """Let a worker started with `ready=True` begin."""
        self.go_path.touch()

    def kill(self) -> None:
        """SIGKILL, as the kernel's OOM killer or a pulled plug does it: no clean-up at all."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)

    async def exited(self, timeout: float = 60.0) -> int:
        deadline = time.monotonic() + timeout
        while (code := self.proc.poll()) is None:
            assert time.monotonic() < deadline, f"worker still running\n{self.log()[-3000:]}"
            await asyncio.sleep(0.05)
        return code

    def clean_up(self) -> None:
        # Whatever the worker started (ffmpeg) goes with it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def records(self) -> list[dict[str, Any]]:
        """The JSON log lines (LOG_JSON=true)."""
        found = []
        for line in self.log().splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if isinstance(entry, dict):
                    found.append(entry)
        return found


@dataclass
class Site:
    tmp: Path
    settings: Settings
    env: dict[str, str]
    telegram: HoldingTelegram
    openai: FakeOpenAI
    google: FakeGoogle
    workers: list[WorkerProcess] = field(default_factory=list)
    _count: int = 0
    _engine: Any = None

    # -- processes --

    def worker(
        self,
        *args: str,
        hold: str | None = None,
        ready: bool = False,
        env: dict[str, str] | None = None,
        file_size_limit: int | None = None,
    ) -> WorkerProcess:
        """`leap worker ARGS` (default: both queues) as a process of its own.

        With `ready`, the process loads its modules and waits for `WorkerProcess.go()`.
        """
        self._count += 1
        mark = self.tmp / f"held-{self._count}"
        go = self.tmp / f"go-{self._count}"
        command = [sys.executable, "-m", "tests.reliability.gated"]
        if hold is not None:
            command += ["--hold", hold]
        command += ["worker", *(args or ("--queue", "all"))]
        extra = {"LEAP_TEST_HOLD_MARK": str(mark)}
        if ready:
            extra["LEAP_TEST_GO"] = str(go)
        log_path = self.tmp / f"worker-{self._count}.log"
        limit = file_size_limit

        def preexec() -> None:
            if limit is not None:
                resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                command,
                cwd=self.tmp,
                env={**self.env, **extra, **(env or {})},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=preexec if limit is not None else None,
            )
        process = WorkerProcess(proc, log_path, mark, go)
        self.workers.append(process)
        return process

    async def held(self, process: WorkerProcess, timeout: float = 60.0) -> str:
        """Wait until a worker started with `hold` stops in its stage; returns the stage."""
        await self.until(process.mark.exists, timeout, process)
        return process.mark.read_text()

    async def until(
        self,
        check: Callable[[], Any],
        timeout: float = 60.0,
        process: WorkerProcess | None = None,
        *,
        every: float = 0.05,
    ) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            result = check()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return result
            if time.monotonic() > deadline:
                logs = "\n".join(w.log()[-2500:] for w in ([process] if process else self.workers))
                raise AssertionError(f"not within {timeout} s\n{logs}\n{self.telegram.dump()}")
            await asyncio.sleep(every)

    # -- the database --

    async def _read(self, work: Callable[[Any], Any]) -> Any:
        if self._engine is None:
            self._engine = create_engine(self.settings.database_url)
        async with session_maker(self._engine)() as session:
            result = await work(session)
            await session.commit()
            return result

    async def close(self) -> None:
        for process in self.workers:
            process.clean_up()
        if self._engine is not None:
            await self._engine.dispose()

    async def rows(self, model: type, *where: Any) -> list[Any]:
        async def read(session: Any) -> list[Any]:
            query = sa.select(model).where(*where)
            return list((await session.scalars(query.order_by(model.id))).all())

        return await self._read(read)

    async def recordings(self) -> list[Recording]:
        return await self.rows(Recording)

    async def recording(self, recording_id: int) -> Recording:
        (row,) = await self.rows(Recording, Recording.id == recording_id)
        return row

    async def stage_run(self, recording_id: int, stage: str) -> StageRun | None:
        found = await self.rows(
            StageRun, StageRun.recording_id == recording_id, StageRun.stage == stage
        )
        return found[0] if found else None

    async def publications(self, recording_id: int) -> dict[str, Publication]:
        rows = await self.rows(Publication, Publication.recording_id == recording_id)
        return {p.platform: p for p in rows}

    async def wait_status(
        self, recording_id: int, *statuses: RecordingStatus, timeout: float = 60.0
    ) -> Recording:
        wanted = {s.value for s in statuses}

        async def check() -> Recording | None:
            rows = await self.rows(Recording, Recording.id == recording_id)
            return rows[0] if rows and rows[0].status in wanted else None

        return await self.until(check, timeout)

    async def wait_running(self, recording_id: int, stage: str, timeout: float = 60.0) -> None:
        async def check() -> bool:
            run = await self.stage_run(recording_id, stage)
            return run is not None and run.status == "running"

        await self.until(check, timeout)

    def folder(self, workspace_id: int, recording_id: int) -> Path:
        return MediaStore(self.settings.storage_dir).recording_dir(
            workspace_id, recording_id, create=False
        )

    async def connect_youtube(self, workspace_id: int) -> None:
        tokens = self.google.issue_tokens()
        expires = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        box = SecretBox(TEST_SECRET_KEY)

        async def store(session: Any) -> None:
            await repo.store_credential(
                session,
                workspace_id,
                box,
                provider="youtube",
                account_name="Lecture Hall",
                payload={**tokens, "expires_at": expires},
            )

        await self._read(store)

    async def publish(self, workspace_id: int, recording_id: int, platforms: list[str]) -> None:
        """What the review card's Publish button does."""
        from jobs.publish import request_publication
        from jobs.worker import redis_pool

        redis = await redis_pool(self.settings)
        try:
            await self._read(
                lambda s: request_publication(s, redis, workspace_id, recording_id, platforms, 1)
            )
        finally:
            await redis.aclose()


def env_for(settings: Settings) -> dict[str, str]:
    """The environment a worker process needs to be configured as `settings` says."""
    keep = {
        k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_", "LEAP_"))
    }
    env = {**keep, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, dict | list):
            value = json.dumps(value)
        env[name.upper()] = str(value)
    return env


SITE_SETTINGS: dict[str, Any] = {
    "worker_heartbeat": 0.3,
    "recovery_interval": 1,
    "worker_poll_delay": 0.5,
    "retry_delay_scale": 0.01,
    "publish_retry_delay": 0.01,
    "youtube_chunk_size": 256 * 1024,
    "media_jobs": 2,
    "io_jobs": 4,
    "log_json": True,
    "migrate_on_start": False,
    "transcribe_engine": "openai",
    "shutdown_grace": 5.0,
    "max_recoveries": 3,
}


@pytest.fixture
async def fakes(tmp_path: Path) -> AsyncIterator[tuple[HoldingTelegram, FakeOpenAI, FakeGoogle]]:
    telegram = HoldingTelegram(TOKEN, files_dir=tmp_path / "bot-api-files")
    await telegram.start()
    openai = FakeOpenAI()
    openai.transcriber = transcriber
    await openai.start()
    google = FakeGoogle()
    await google.start()
    try:
        yield telegram, openai, google
    finally:
        telegram.release_downloads()
        google.release()
        await google.stop()
        await openai.stop()
        await telegram.stop()


def site_settings(
    tmp_path: Path,
    redis_url: str,
    database_url: str,
    fakes: tuple[HoldingTelegram, FakeOpenAI, FakeGoogle],
    **overrides: Any,
) -> Settings:
    telegram, openai, google = fakes
    return make_settings(
        telegram_bot_token=TOKEN,
        telegram_api_url=telegram.base_url,
        database_url=database_url,
        redis_url=redis_url,
        storage_dir=tmp_path / "storage",
        web_port=_free_port(),
        progress_interval=0.2,
        throttle_rate=50.0,
        throttle_burst=50,
        secret_key=TEST_SECRET_KEY,
        transcribe_base_url=openai.base_url,
        transcribe_api_key=openai.api_key,
        youtube_client_id=google.client_id,
        youtube_client_secret=google.client_secret,
        google_auth_url=google.auth_url,
        google_token_url=google.token_url,
        youtube_api_url=google.api_url,
        **{**SITE_SETTINGS, **overrides},
    )


@pytest.fixture
def site_database(database_url: str) -> str:
    """The site's database: SQLite; a test module may override this fixture."""
    return database_url


@pytest.fixture
def site_overrides() -> dict[str, Any]:
    """Settings a test module changes for its whole site (bot and workers)."""
    return {}


@pytest.fixture
async def site(
    tmp_path: Path,
    clean_redis: str,
    site_database: str,
    site_overrides: dict[str, Any],
    fakes: tuple[HoldingTelegram, FakeOpenAI, FakeGoogle],
) -> AsyncIterator[Site]:
    settings = site_settings(tmp_path, clean_redis, site_database, fakes, **site_overrides)
    telegram, openai, google = fakes
    made = Site(tmp_path, settings, env_for(settings), telegram, openai, google)
    try:
        yield made
    finally:
        await made.close()


@contextlib.asynccontextmanager
async def bot_running(settings: Settings) -> AsyncIterator[None]:
    """`leap bot` in this process: polling and the web server, no workers."""
    from leap.app import serve

    stop = asyncio.Event()
    ready = asyncio.Event()
    task = asyncio.create_task(serve(settings, queues=(), stop=stop, ready=ready))
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED, timeout=30)
    if task.done():
        waiter.cancel()
        task.result()
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


@pytest.fixture
async def bot(site: Site) -> AsyncIterator[Site]:
    async with bot_running(site.settings):
        yield site


@pytest.fixture(scope="session")
def redis_server_binary() -> Iterator[str]:
    import shutil

    found = shutil.which("redis-server")
    if found is None:
        pytest.skip("redis-server is not installed")
    yield found


async def send_lecture(site: Site, user_id: int, video: Path, name: str = "lecture.mp4") -> Any:
    """A person sends a lecture file to the bot; returns the bot's progress message."""
    user = site.telegram.user(user_id, f"User {user_id}", language_code="en")
    chat = site.telegram.private_chat(user)
    mark = site.telegram.mark()
    await site.telegram.send_document(chat, user, video, file_name=name, mime_type="video/mp4")
    return await site.telegram.wait_for_message(user_id, after=mark, timeout=30)


def _answers(host: str, port: int) -> bool:
    import socket

    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A PostgreSQL for the load test: TEST_POSTGRES_URL, or a private throw-away cluster.

    Burst writes from many updates at once are what production's PostgreSQL is for; SQLite
    serialises writers and refuses some of them outright under such a burst.
    """
    import shutil

    configured = os.environ.get("TEST_POSTGRES_URL")
    if configured:
        yield configured
        return
    initdb, postgres = shutil.which("initdb"), shutil.which("postgres")
    if initdb is None or postgres is None:
        pytest.skip("no PostgreSQL: set TEST_POSTGRES_URL or install its server binaries")
    # Outside pytest's private temporary folder, which PostgreSQL's own user cannot enter.
    root = Path(tempfile.mkdtemp(prefix="leap-test-postgres-"))
    data, sockets = root / "data", root / "run"
    sockets.mkdir()
    # PostgreSQL refuses to run as root; as root, hand the cluster to its own user.
    as_user = "postgres" if os.geteuid() == 0 else None
    if as_user is not None:
        shutil.chown(root, as_user)
        shutil.chown(sockets, as_user)
    subprocess.run(
        [initdb, "-D", str(data), "-U", "leap", "-A", "trust", "--no-sync"],
        check=True, capture_output=True, user=as_user,
    )  # fmt: skip
    port = _free_port()
    server = subprocess.Popen(
        [postgres, "-D", str(data), "-p", str(port), "-k", str(sockets),
         "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, user=as_user,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while not _answers("127.0.0.1", port):
        assert server.poll() is None and time.monotonic() < deadline, "PostgreSQL did not start"
        time.sleep(0.1)
    try:
        yield f"postgresql+asyncpg://leap@127.0.0.1:{port}/postgres"
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """A fresh, migrated database in the PostgreSQL server for one test."""
    import uuid

    import asyncpg

    name = f"leap_{uuid.uuid4().hex[:12]}"
    admin = postgres_server.replace("postgresql+asyncpg://", "postgresql://")

    async def create() -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    url = postgres_server.rsplit("/", 1)[0] + f"/{name}"
    from storage import db

    db.upgrade(url)
    return url
