"""Redis loses everything mid-run (FLUSHALL, or a restart without persistence): the database
says what is owed, and every unfinished recording is finished, each stage run once."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from storage.models import RecordingStatus
from tests.conftest import _free_port
from tests.reliability.conftest import (
    HoldingTelegram,
    Site,
    bot_running,
    env_for,
    send_lecture,
    site_settings,
)

LECTURES = 4


async def _submit(site: Site, video: Path, count: int) -> list[int]:
    for n in range(count):
        await send_lecture(site, 700 + n, video, name=f"lecture-{n}.mp4")
    return [r.id for r in await site.recordings()]


async def test_flushed_redis_loses_no_recording_and_runs_no_stage_twice(
    bot: Site, small_video: Path
) -> None:
    site = bot
    site.openai.latency = 1.5  # a transcription stays in flight long enough to flush under it
    worker = site.worker()
    ids = await _submit(site, small_video, LECTURES)
    await site.until(lambda: site.openai.in_flight["transcriptions"] > 0, process=worker)

    redis = Redis.from_url(site.settings.redis_url)
    try:
        await redis.flushall()
    finally:
        await redis.aclose()

    for rid in ids:
        done = await site.wait_status(
            rid, RecordingStatus.AWAITING_REVIEW, RecordingStatus.FAILED, timeout=90
        )
        assert done.status == RecordingStatus.AWAITING_REVIEW, done.failure_reason
    # One speech request per recording: the stage running during the flush was not started
    # a second time by the recovery that re-queued the others.
    assert len(site.openai.calls("transcriptions")) == LECTURES
    assert worker.proc.poll() is None
    assert "re-queued by recovery" in worker.log()


@pytest.fixture
def own_redis(tmp_path: Path, redis_server_binary: str) -> Iterator[tuple[str, Callable[[], None]]]:
    """A redis-server of this test's own (no persistence) and a way to restart it empty."""
    port = _free_port()
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> None:
        procs.append(
            subprocess.Popen(
                [redis_server_binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", str(tmp_path)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while True:
            try:
                SyncRedis(port=port, socket_connect_timeout=0.2).ping()
                return
            except Exception:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    def restart() -> None:
        # SHUTDOWN NOSAVE ends the server at once, writing nothing, as a crash would.
        with contextlib.suppress(Exception):
            SyncRedis(port=port).shutdown(nosave=True)
        procs[-1].wait(10)
        start()

    start()
    yield f"redis://127.0.0.1:{port}/0", restart
    for proc in procs:
        proc.kill()
        proc.wait(5)


async def test_redis_restarted_without_its_data_the_workers_carry_on(
    tmp_path: Path,
    database_url: str,
    fakes: tuple[HoldingTelegram, object, object],
    own_redis: tuple[str, Callable[[], None]],
    small_video: Path,
) -> None:
    url, restart = own_redis
    settings = site_settings(tmp_path, url, database_url, fakes)  # type: ignore[arg-type]
    telegram, openai, google = fakes
    site = Site(tmp_path, settings, env_for(settings), telegram, openai, google)  # type: ignore[arg-type]
    try:
        async with bot_running(settings):
            openai.latency = 1.5  # type: ignore[attr-defined]
            worker = site.worker()
            ids = await _submit(site, small_video, 2)
            await site.until(
                lambda: openai.in_flight["transcriptions"] > 0,  # type: ignore[attr-defined]
                process=worker,
            )

            # Redis goes away and comes back empty, as a restart without persistence leaves it.
            restart()

            for rid in ids:
                done = await site.wait_status(
                    rid, RecordingStatus.AWAITING_REVIEW, RecordingStatus.FAILED, timeout=90
                )
                assert done.status == RecordingStatus.AWAITING_REVIEW, done.failure_reason
            assert worker.proc.poll() is None, worker.log()[-3000:]

            # The bot still answers people once Redis is back.
            user = telegram.user(799, "Late", language_code="en")
            mark = telegram.mark()
            await telegram.send_text(telegram.private_chat(user), user, "/help")
            await telegram.wait_for_message(799, after=mark, timeout=30)
    finally:
        for process in site.workers:
            process.clean_up()
