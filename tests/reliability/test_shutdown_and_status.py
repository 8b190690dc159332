"""SIGTERM lets a running stage finish within SHUTDOWN_GRACE, or puts it back in its queue for
the next worker; the worker's status port answers /healthz and /metrics meanwhile, and every
line a stage logs says which recording it is about."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from storage.models import RecordingStatus
from tests.conftest import _free_port
from tests.fakes.openai import Fault
from tests.reliability.conftest import Site, send_lecture


async def _get(port: int, path: str) -> tuple[int, str]:
    # In a thread: the bot's web server runs in this test's event loop.
    return await asyncio.to_thread(_fetch, port, path)


def _fetch(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


async def test_sigterm_finishes_or_requeues_running_stages_and_status_is_served(
    bot: Site, small_video: Path
) -> None:
    site = bot
    port = _free_port()
    status_env = {"WORKER_WEB_PORT": str(port), "SHUTDOWN_GRACE": "20"}

    # A stage that ends within the grace period finishes before the worker exits.
    site.openai.fail("transcriptions", Fault(500), Fault(delay=2.0))
    first = site.worker(env=status_env)
    second = site.worker(env={"SHUTDOWN_GRACE": "1"}, ready=True)
    third = site.worker(ready=True)
    await send_lecture(site, 901, small_video, "finishing.mp4")
    await site.until(lambda: site.openai.in_flight["transcriptions"] > 0, process=first)
    await site.wait_running(1, "transcribe")

    code, body = await _get(port, "/healthz")
    health = json.loads(body)
    assert code == 200 and health["ok"] is True, body
    assert health["database"] == health["redis"] == "ok"
    assert health["worker:leap:media"] == health["worker:leap:io"] == "ok"
    code, text = await _get(port, "/metrics")
    assert code == 200
    assert 'leap_stage_duration_seconds_count{stage="trim",outcome="done"} 1' in text
    assert re.search(r'leap_queue_depth\{queue="media",state="ready"\} \d+', text)
    # At least this worker; a worker of an earlier test may still be winding down.
    assert re.search(r'leap_workers\{queue="media"\} [1-9]', text)
    assert 'leap_jobs_running{queue="media"} 1' in text

    first.terminate()
    assert await first.exited() == 0, first.log()[-3000:]
    run = await site.stage_run(1, "transcribe")
    assert run is not None and run.status == "done" and run.attempts == 1
    redis = Redis.from_url(site.settings.redis_url)
    try:
        # The next stage waits in the queue; nothing was lost with the worker.
        assert await redis.exists("arq:job:rec:1:topics")
    finally:
        await redis.aclose()

    # A stage that outlasts the grace period is cancelled and handed back to the queue.
    site.openai.fail("transcriptions", Fault(delay=600))
    second.go()
    await site.wait_status(1, RecordingStatus.AWAITING_REVIEW)
    await send_lecture(site, 902, small_video, "cancelled.mp4")
    await site.until(lambda: site.openai.in_flight["transcriptions"] > 0, process=second)
    second.terminate()
    assert await second.exited() == 0, second.log()[-3000:]
    assert "1 jobs cancelled; they are back in the queue" in second.log()

    third.go()
    await site.wait_status(2, RecordingStatus.AWAITING_REVIEW)
    # Handed back cleanly: taken from the queue at once, not recovered from a dead worker.
    assert "lost its worker" not in third.log()
    run = await site.stage_run(2, "transcribe")
    assert run is not None and run.status == "done" and run.attempts == 2

    # Every line logged while a stage ran carries its recording, whoever logged it.
    records = first.records() + second.records() + third.records()
    in_stages = [r for r in records if str(r.get("job", "")).startswith("rec:")]
    assert in_stages and all(isinstance(r.get("recording_id"), int) for r in in_stages)
    loggers = {r["logger"] for r in in_stages}
    assert {"arq.worker", "integrations.stt.api"} <= loggers, loggers
    speech_fault = _one(records, lambda r: "failed (unavailable: HTTP 500" in r["message"])
    assert speech_fault["recording_id"] == 1 and speech_fault["stage"] == "transcribe"


def _one(records: list[dict[str, Any]], match: Any) -> dict[str, Any]:
    found = [r for r in records if match(r)]
    assert len(found) == 1, found
    return found[0]


async def test_the_bot_serves_health_and_metrics_on_its_web_port(bot: Site) -> None:
    port = bot.settings.web_port
    code, body = await _get(port, "/healthz")
    assert code == 200 and json.loads(body) == {"ok": True, "database": "ok", "redis": "ok"}
    code, text = await _get(port, "/metrics")
    assert code == 200
    assert "# TYPE leap_queue_depth gauge" in text
    assert "# TYPE leap_stage_duration_seconds histogram" in text
    assert "# TYPE leap_uploads_total counter" in text
