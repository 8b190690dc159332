"""Outside services failing: 500s, 429 with Retry-After, hung requests, dropped connections.

Transient faults are retried with growing waits; a service that keeps failing ends in a
failure the person can read, with a Retry button, after a bounded number of tries; and
nothing retries a failed stage on its own afterwards.
"""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from jobs.runner import MAX_TRIES
from locales import gettext
from storage.models import RecordingStatus
from tests.bot.test_zoom_e2e import connect_privately
from tests.conftest import _free_port
from tests.fakes.openai import Fault
from tests.fakes.vk import FakeVk
from tests.fakes.zoom import FakeZoom
from tests.jobs.conftest import VK_GROUP, VK_USER, vk_sign_in
from tests.reliability.conftest import Site, send_lecture

SPEECH_TIMEOUT = 4.0


def _metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    pattern = rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$"
    return sum(float(v) for v in re.findall(pattern, text, re.M))


async def _sweeps_pass(site: Site, port: int, count: int) -> None:
    start = await asyncio.to_thread(_metric, port, "leap_recovery_sweeps_total")

    async def passed() -> bool:
        now = await asyncio.to_thread(_metric, port, "leap_recovery_sweeps_total")
        return now >= start + count

    await site.until(passed, timeout=30)


async def test_the_speech_service_failing_is_retried_then_given_up_with_a_retry_button(
    bot: Site, small_video: Path
) -> None:
    site = bot
    port = _free_port()
    worker = site.worker(
        env={
            "RETRY_DELAY_SCALE": "0.001",
            "STAGE_TIMEOUTS": json.dumps({"transcribe": SPEECH_TIMEOUT}),
            "WORKER_WEB_PORT": str(port),
        }
    )
    calls = site.openai.calls

    # A 500, a dropped connection and a 429 with Retry-After: retried inside the stage.
    site.openai.fail("transcriptions", Fault(500), Fault(reset=True), Fault(429, retry_after=0.05))
    await send_lecture(site, 801, small_video, "flaky.mp4")
    flaky = await site.wait_status(1, RecordingStatus.AWAITING_REVIEW, RecordingStatus.FAILED)
    assert flaky.status == RecordingStatus.AWAITING_REVIEW, flaky.failure_reason
    statuses = [r.status for r in calls("transcriptions")]
    assert statuses[:3] == [500, 0, 429] and statuses[-1] == 200, statuses
    # On a busy machine the stage's short deadline may end a try whose request is then
    # dropped (0) and sent again by the next try; nothing else may come between.
    assert set(statuses[3:-1]) <= {0}, statuses

    # A request that never comes back: the stage's deadline ends the try, the next one works.
    site.openai.fail("transcriptions", Fault(delay=120))
    await send_lecture(site, 802, small_video, "hung.mp4")
    hung = await site.wait_status(2, RecordingStatus.AWAITING_REVIEW, RecordingStatus.FAILED)
    assert hung.status == RecordingStatus.AWAITING_REVIEW, hung.failure_reason
    run = await site.stage_run(2, "transcribe")
    assert run is not None and run.attempts == 2
    assert "transcribe still running after" in worker.log()

    # A service that answers 429 to everything: bounded tries, then a readable failure.
    site.openai.fail("transcriptions", *[Fault(429, retry_after=0.01)] * 500)
    progress = await send_lecture(site, 803, small_video, "refused.mp4")
    failed = await site.wait_status(3, RecordingStatus.FAILED, RecordingStatus.AWAITING_REVIEW)
    assert failed.status == RecordingStatus.FAILED
    assert failed.failure_code == "stt_rate_limited"
    reason = gettext("en", "error.stt_rate_limited")
    shown = await site.telegram.wait_for(lambda: reason in (progress.content or "") and progress)
    assert [label for label, _ in shown.buttons] == [gettext("en", "card.retry")]
    tried = len(calls("transcriptions"))
    run = await site.stage_run(3, "transcribe")
    assert run is not None and run.attempts == MAX_TRIES and run.status == "failed"

    # Nothing tries it again by itself: two recovery sweeps later, not one more request.
    await _sweeps_pass(site, port, 2)
    assert len(calls("transcriptions")) == tried
    assert (await site.recording(3)).status == RecordingStatus.FAILED

    # The person presses Retry once the service is back.
    site.openai.faults["transcriptions"].clear()
    user = site.telegram.user(803, "User 803")
    chat = site.telegram.private_chat(user)
    await site.telegram.press(chat, user, progress.message_id, shown.buttons[0][1])
    await site.wait_status(3, RecordingStatus.AWAITING_REVIEW)


async def test_platforms_failing_are_retried_and_each_gets_one_video(
    bot: Site, small_video: Path
) -> None:
    site = bot
    async with FakeVk() as vk:
        vk.add_user(VK_USER, "Ann")
        vk.add_group(VK_GROUP, "Lectures", admins={VK_USER})
        worker_env = {
            "RETRY_DELAY_SCALE": "0.001",
            "VK_CLIENT_ID": vk.client_id,
            "VK_API_URL": vk.api_url,
            "VK_OAUTH_URL": vk.oauth_url,
        }
        site.worker(env=worker_env)
        await send_lecture(site, 811, small_video, "published.mp4")
        reviewed = await site.wait_status(1, RecordingStatus.AWAITING_REVIEW)
        wid = reviewed.workspace_id
        await site.connect_youtube(wid)
        await _connect_vk(site, vk, wid)

        # YouTube: two 5xx on chunks, a 429, a dropped connection; VK: two failed uploads.
        site.google.fail("upload", 503, skip=1, times=2)
        site.google.fail("upload", 429, skip=1)
        site.google.fail("upload", drop=True)
        vk.fail_upload(times=2, status=502)
        await site.publish(wid, 1, ["youtube", "vk"])

        done = await site.wait_status(1, RecordingStatus.READY, RecordingStatus.FAILED)
        assert done.status == RecordingStatus.READY, done.failure_reason
        publications = await site.publications(1)
        assert {p: r.status for p, r in publications.items()} == {"youtube": "done", "vk": "done"}

        folder = site.folder(wid, 1)
        [video] = site.google.videos.values()
        assert video.data == (folder / "video.mp4").read_bytes()
        assert len(site.google.sessions) == 1
        statuses = [c.status for c in site.google.chunks]
        assert statuses.count(503) == 2 and statuses.count(429) == 1
        [saved] = vk.videos
        assert saved.uploads == 1
        assert saved.data == (folder / "video.mp4").read_bytes()


async def _connect_vk(site: Site, vk: FakeVk, workspace_id: int) -> None:
    from datetime import UTC, datetime, timedelta

    from storage import repo
    from storage.crypto import SecretBox
    from tests.conftest import TEST_SECRET_KEY

    settings = site.settings.model_copy(
        update={"vk_client_id": vk.client_id, "vk_oauth_url": vk.oauth_url}
    )
    tokens = await vk_sign_in(vk, settings)
    payload: dict[str, Any] = {
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token,
        "expires_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
        "user_id": tokens.user_id,
        "device_id": tokens.device_id,
        "group_id": VK_GROUP,
        "group_name": "Lectures",
    }

    async def store(session: Any) -> None:
        await repo.store_credential(
            session,
            workspace_id,
            SecretBox(TEST_SECRET_KEY),
            provider="vk",
            account_name="Lectures",
            payload=payload,
        )

    await site._read(store)


@pytest.fixture
async def zoom() -> AsyncIterator[FakeZoom]:
    async with FakeZoom() as server:
        yield server


@pytest.fixture
def site_overrides(zoom: FakeZoom) -> dict[str, Any]:
    # Zoom's endpoints for the bot and the workers; its thresholds fit seconds-long videos.
    return {
        "zoom_api_url": zoom.api_url,
        "zoom_oauth_url": zoom.oauth_url,
        "zoom_min_minutes": 20,
        "zoom_min_mb": 0.01,
    }


async def test_zoom_failing_is_retried_and_the_download_goes_on(
    bot: Site, zoom: FakeZoom, small_video: Path
) -> None:
    # Giving up on Zoom is not shown here: its client waits 1, 3, 10 and 30 s between tries
    # on its own (integrations/zoom.py), too long for a test; the bound is the same runner's.
    site = bot
    video = small_video.read_bytes()
    yesterday = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    zoom.add_meeting("Algebra 1", yesterday, 60, [zoom.mp4("shared_screen", video)])
    site.worker(env={"RETRY_DELAY_SCALE": "0.001"})
    user = site.telegram.user(821, "Lena", language_code="en")
    chat = site.telegram.private_chat(user)
    await connect_privately(site.telegram, user, zoom)

    # Two 500s from Zoom's download address: the fetch is tried again and gets the file.
    zoom.fail("download", 500, times=2)
    mark = site.telegram.mark()
    await site.telegram.send_text(chat, user, "/zoom")
    listing = await site.telegram.wait_for_message(821, after=mark)
    await site.telegram.wait_for(lambda: "Zoom recordings" in (listing.content or ""))
    await site.telegram.press(chat, user, listing.message_id, listing.buttons[0][1])
    done = await site.wait_status(1, RecordingStatus.AWAITING_REVIEW, RecordingStatus.FAILED)
    assert done.status == RecordingStatus.AWAITING_REVIEW, done.failure_reason
    assert not zoom._faults["download"]
    folder = site.folder(done.workspace_id, done.id)
    assert (folder / "source.mp4").read_bytes() == video
