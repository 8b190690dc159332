"""Redis loses everything mid-run, once by FLUSHALL and once by a restart without
persistence: the database says what is owed, every unfinished recording is finished, no
stage runs twice, and the worker and the bot stay up throughout."""

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
from tests.fakes.google import FakeGoogle
from tests.fakes.openai import FakeOpenAI
from tests.reliability.conftest import (
    HoldingTelegram,
    Site,
    bot_running,
    env_for,
    send_lecture,
    site_settings,
)


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


async def _lectures(site: Site, video: Path, first_user: int, count: int) -> list[int]:
    before = {r.id for r in await site.recordings()}
    for n in range(count):
        await send_lecture(site, first_user + n, video, name=f"lecture-{first_user + n}.mp4")
    return [r.id for r in await site.recordings() if r.id not in before]


async def _all_reviewed(site: Site, ids: list[int]) -> None:
    for rid in ids:
        done = await site.wait_status(
            rid, RecordingStatus.AWAITING_REVIEW, RecordingStatus.FAILED, timeout=90
        )
        assert done.status == RecordingStatus.AWAITING_REVIEW, done.failure_reason


async def test_redis_losing_its_data_loses_no_recording_and_runs_no_stage_twice(
    tmp_path: Path,
    database_url: str,
    fakes: tuple[HoldingTelegram, FakeOpenAI, FakeGoogle],
    own_redis: tuple[str, Callable[[], None]],
    small_video: Path,
) -> None:
    url, restart = own_redis
    settings = site_settings(tmp_path, url, database_url, fakes)
    telegram, openai, google = fakes
    site = Site(tmp_path, settings, env_for(settings), telegram, openai, google)
    openai.latency = 1.5  # a transcription stays in flight long enough to pull Redis from under
    try:
        async with bot_running(settings):
            worker = site.worker()

            # FLUSHALL while one recording is transcribing and the others wait in queues.
            flushed = await _lectures(site, small_video, 700, 4)
            await site.until(lambda: openai.in_flight["transcriptions"] > 0, process=worker)
            redis = Redis.from_url(url)
            try:
                await redis.flushall()
            finally:
                await redis.aclose()
            await _all_reviewed(site, flushed)
            assert "re-queued by recovery" in worker.log()

            # A restart that comes back empty, while another transcription is in flight.
            restarted = await _lectures(site, small_video, 750, 2)
            await site.until(lambda: openai.in_flight["transcriptions"] > 0, process=worker)
            restart()
            await _all_reviewed(site, restarted)

            # One speech request per recording: what ran while Redis lost its data was not
            # started a second time by the recovery that re-queued everything else.
            assert len(openai.calls("transcriptions")) == len(flushed) + len(restarted)
            assert worker.proc.poll() is None, worker.log()[-3000:]
            # And the bot still answers people.
            user = telegram.user(799, "Late", language_code="en")
            mark = telegram.mark()
            await telegram.send_text(telegram.private_chat(user), user, "/help")
            await telegram.wait_for_message(799, after=mark, timeout=30)
    finally:
        await site.close()
