"""Fifty recordings from ten chats at once, a media worker and an io worker running.

Every submission ends where it should: a recording that was accepted waits for review, one
beyond the workspace's limit of recordings at a time is refused with the reason. At no moment
does a workspace have more recordings in progress than its limit, the media worker never runs
more than MEDIA_JOBS jobs at once, and the bot answers commands all along. (How fast it
answers is measured by bench/bot.py, not asserted here.)
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import subprocess
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from storage.models import TERMINAL_STATUSES, Recording
from tests.conftest import _free_port
from tests.reliability.conftest import Site

CHATS = 10
PER_CHAT = 5
MEDIA_JOBS = 2
CONCURRENT = 2


@pytest.fixture
def site_overrides() -> dict[str, object]:
    # Each chat may have two recordings in progress: the rest of its burst is refused.
    return {"quota_concurrent": CONCURRENT}


@pytest.fixture
def site_database(postgres_url: str) -> str:
    # Fifty updates at once is a burst of writers: the production database takes it.
    return postgres_url


@pytest.fixture(scope="session")
def tiny_recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three seconds of a 32×32 picture at 2 fps and a tone: a few kilobytes to process."""
    path = tmp_path_factory.mktemp("load") / "tiny.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-y",
         "-f", "lavfi", "-i", "color=c=navy:s=32x32:r=2:d=3",
         "-f", "lavfi", "-i", "sine=f=300:sample_rate=8000:d=3",
         "-c:v", "libx264", "-preset", "ultrafast", "-g", "2", "-c:a", "aac", "-b:a", "16k",
         "-shortest", "-movflags", "+faststart", str(path)],
        check=True,
    )  # fmt: skip
    return path


def _peak(port: int, queue: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    found = re.search(rf'^leap_jobs_running_max{{queue="{queue}"}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


async def test_fifty_recordings_from_ten_chats_all_end_well(
    bot: Site, tiny_recording: Path
) -> None:
    site = bot
    media_port = _free_port()
    # Progress edits at the default pace, as people would see them.
    paced = {"PROGRESS_INTERVAL": "3"}
    site.worker(
        "--queue",
        "media",
        env={**paced, "MEDIA_JOBS": str(MEDIA_JOBS), "WORKER_WEB_PORT": str(media_port)},
    )
    site.worker("--queue", "io", env={**paced, "IO_JOBS": "8"})

    users = [site.telegram.user(1000 + n, f"Teacher {n}", language_code="en") for n in range(CHATS)]
    chats = [site.telegram.private_chat(u) for u in users]
    for round_ in range(PER_CHAT):
        for user, chat in zip(users, chats, strict=True):
            await site.telegram.send_document(
                chat, user, tiny_recording, file_name=f"lecture-{round_}.mp4", mime_type="video/mp4"
            )

    # Watch the database while the work goes on; a student asks for /help now and then.
    most_active: Counter[int] = Counter()
    asker = site.telegram.user(1999, "Student", language_code="en")
    answers: list[object] = []

    async def ask_for_help() -> None:
        while True:
            mark = site.telegram.mark()
            await site.telegram.send_text(site.telegram.private_chat(asker), asker, "/help")
            answers.append(await site.telegram.wait_for_message(1999, after=mark, timeout=60))
            await asyncio.sleep(2.0)

    async def settled() -> bool:
        rows = await site.rows(Recording)
        active = Counter(r.workspace_id for r in rows if r.status not in TERMINAL_STATUSES)
        for workspace, count in active.items():
            most_active[workspace] = max(most_active[workspace], count)
        return len(rows) + _refusals(site) == CHATS * PER_CHAT and not active

    asking = asyncio.create_task(ask_for_help())
    try:
        await site.until(settled, timeout=240, every=0.5)
    finally:
        asking.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asking

    rows = await site.rows(Recording)
    assert {r.status for r in rows} == {"awaiting_review"}, Counter(r.status for r in rows)
    assert max(most_active.values()) <= CONCURRENT
    assert await asyncio.to_thread(_peak, media_port, "media") <= MEDIA_JOBS
    assert answers


def _refusals(site: Site) -> int:
    return sum(
        1
        for chat_id in range(1000, 1000 + CHATS)
        for message in site.telegram.sent(chat_id)
        if (message.content or "").startswith("⛔ Not accepted right now")
    )
