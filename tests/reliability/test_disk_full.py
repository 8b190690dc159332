"""The disk fills up while a stage writes: the stage fails with its own reason and a Retry
button, nothing half-written is ever used, and Retry works once there is room again.

The full disk is a file size limit on the worker process (RLIMIT_FSIZE, no privileges
needed): a write past 1 MB fails with EFBIG, as one on a full disk fails with ENOSPC.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from jobs.runner import failure_text
from locales import gettext
from storage.models import RecordingStatus
from tests.reliability.conftest import Site, send_lecture

LIMIT = 1_000_000


@pytest.fixture(scope="session")
def two_mb_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("disk-full") / "lecture.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-y",
         "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=4", "-f", "lavfi", "-i", "sine=f=440:d=4",
         "-vf", "noise=alls=40:allf=t", "-c:v", "libx264", "-preset", "ultrafast",
         "-b:v", "4M", "-maxrate", "4M", "-bufsize", "1M", "-c:a", "aac", "-shortest",
         "-movflags", "+faststart", str(path)],
        check=True,
    )  # fmt: skip
    assert path.stat().st_size > 1.5 * LIMIT
    return path


async def test_a_full_disk_fails_the_stage_clearly_and_retry_finishes_it(
    bot: Site, two_mb_video: Path
) -> None:
    site = bot
    cramped = site.worker(file_size_limit=LIMIT)
    roomy = site.worker(ready=True)
    progress = await send_lecture(site, 951, two_mb_video)
    failed = await site.wait_status(1, RecordingStatus.FAILED, RecordingStatus.AWAITING_REVIEW)
    assert failed.status == RecordingStatus.FAILED
    assert failed.failure_code == "disk_full"
    reason = failure_text("en", "disk_full")
    shown = await site.telegram.wait_for(lambda: reason in (progress.content or "") and progress)
    assert [label for label, _ in shown.buttons] == [gettext("en", "card.retry")]
    assert "found the disk full" in cramped.log()

    folder = site.folder(failed.workspace_id, failed.id)
    # The download stopped at the limit under its temporary name; the real name never held it.
    assert not (folder / "source.mp4").exists()
    assert (folder / "source.mp4.part").stat().st_size <= LIMIT

    # Room again (a worker without the limit), and the person presses Retry.
    cramped.terminate()
    assert await cramped.exited() == 0
    roomy.go()
    user = site.telegram.user(951, "User 951")
    await site.telegram.press(
        site.telegram.private_chat(user), user, progress.message_id, shown.buttons[0][1]
    )
    await site.wait_status(1, RecordingStatus.AWAITING_REVIEW)
    assert (folder / "source.mp4").read_bytes() == two_mb_video.read_bytes()
    assert not list(folder.rglob("*.part"))
