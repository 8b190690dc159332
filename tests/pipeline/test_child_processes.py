"""ffmpeg started by the pipeline does not outlive a worker that is killed outright."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

# A parent that starts a minute-long ffmpeg through the pipeline and waits for it.
PARENT = """
from pipeline import ffmpeg_cmd
ffmpeg_cmd.run(
    ["ffmpeg", "-v", "error", "-nostdin", "-re", "-f", "lavfi", "-i", "sine=d=60",
     "-f", "null", "-"],
    what="a long decode",
)
"""


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent death signal is Linux")
def test_ffmpeg_dies_with_a_killed_worker() -> None:
    root = Path(__file__).resolve().parents[2]
    parent = subprocess.Popen([sys.executable, "-c", PARENT], cwd=root)
    try:
        deadline = time.monotonic() + 30
        children: list[int] = []
        while not children and time.monotonic() < deadline:
            children = _children(parent.pid)
            time.sleep(0.05)
        assert children, "the pipeline never started ffmpeg"
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 10
        while any(_alive(c) for c in children) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_alive(c) for c in children)
    finally:
        if parent.poll() is None:
            parent.kill()
        for child in _children(parent.pid):
            os.kill(child, signal.SIGKILL)
