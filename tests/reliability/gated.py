"""`leap`, started ahead of time or with one stage held in flight, for tests that kill workers.

    python -m tests.reliability.gated [--hold STAGE] worker --queue all

runs the ordinary `leap worker`. With LEAP_TEST_GO set it first loads its modules and then
waits until that file exists, so a test can have the next worker ready while it breaks the
current one. With ``--hold STAGE``, once STAGE starts its real work the process writes the
path in LEAP_TEST_HOLD_MARK and stops there until it is killed; where the stage writes a
file of its own it is stopped half-way through that write (half the text in the temporary
file), as a kill during the write would leave it. Stages that talk to an outside service are
held by the fake service instead (tests/reliability/conftest.py).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# The file each held stage is stopped in the middle of writing.
HALF_WRITTEN = {
    "topics": "topics.json",
    "subtitles": "subtitles.vtt",
    "compose": "metadata.json",
}


def hold(stage: str) -> None:
    Path(os.environ["LEAP_TEST_HOLD_MARK"]).write_text(stage)
    while True:  # until SIGKILL
        time.sleep(1)


def install(stage: str) -> None:
    if stage == "trim":
        from pipeline import trim as media

        def held_trim(_source: Path, out_dir: Path, *_args: Any, **_kwargs: Any) -> Any:
            # Killed half-way, as a real trim would be: its working folder stays behind.
            work = Path(tempfile.mkdtemp(prefix=".trim-", dir=out_dir))
            (work / "audio.wav").write_bytes(b"\0" * 4096)
            hold("trim")

        media.trim = held_trim  # type: ignore[assignment]
        return
    name = HALF_WRITTEN[stage]
    from jobs import files

    original = files.write_text

    def write_text(path: Path, text: str) -> None:
        if path.name == name:
            part = path.with_name(path.name + ".part")
            part.write_text(text[: len(text) // 2], encoding="utf-8")
            hold(stage)
        original(path, text)

    files.write_text = write_text  # type: ignore[assignment]


def wait_for_go(path: str) -> None:
    import jobs.worker  # noqa: F401  (the slow part of starting, done before the signal)
    import leap.app  # noqa: F401

    while not os.path.exists(path):
        time.sleep(0.01)


def main() -> int:
    argv = sys.argv[1:]
    if argv[:1] == ["--hold"]:
        install(argv[1])
        argv = argv[2:]
    if os.environ.get("LEAP_TEST_GO"):
        wait_for_go(os.environ["LEAP_TEST_GO"])
    from leap.cli import main as leap

    return leap(argv)


if __name__ == "__main__":
    sys.exit(main())
