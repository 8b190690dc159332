"""Links to places the bot must not go, in the chat and on the command line, and bad files
given to `leap process` as an operator gives them.

The chat answers every refused link in the sender's language without a single request to
the address; `leap process` exits non-zero with one line that says why, and leaves no output
folder behind.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fakes.media_site import MediaSite
from tests.safety.conftest import (
    Inputs,
    World,
    leftovers,
    recordings_of,
    seen,
    snapshot,
    workspace_of,
)

LEAP = [sys.executable, "-m", "leap.cli"]
PRIVATE = "Ссылка ведёт на адрес во внутренней или локальной сети"
SCHEME = "Я открываю только ссылки http:// и https://"


@pytest.fixture(scope="module")
async def site(inputs: Inputs) -> AsyncIterator[MediaSite]:
    """A site on this machine serving a real lecture: reachable, and never to be reached."""
    fake = MediaSite({"lecture.mp4": inputs.lecture})
    await fake.start()
    yield fake
    await fake.stop()


def _private_links(site: MediaSite) -> list[str]:
    port = site.port
    return [
        site.url("/media/lecture.mp4"),
        f"http://localhost:{port}/media/lecture.mp4",
        f"http://[::ffff:127.0.0.1]:{port}/media/lecture.mp4",
        f"http://2130706433:{port}/media/lecture.mp4",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/lecture.mp4",
    ]


async def test_links_to_private_addresses_and_other_schemes_are_refused_without_a_request(
    world: World, site: MediaSite
) -> None:
    telegram, settings = world.telegram, world.settings
    user = telegram.user(7601, "Ира", language_code="ru")
    chat = telegram.private_chat(user)
    before = await snapshot(settings)
    private = _private_links(site)
    other = ["file:///etc/passwd", "FILE:///C:/Windows/win.ini", "ftp://example.org/lecture.mp4"]
    for link in [*private, *other]:
        await telegram.send_text(chat, user, link)

    await telegram.wait_for(
        lambda: sum("❌" in seen(m) for m in telegram.sent(7601)) == len(private) + len(other)
    )
    replies = [seen(m) for m in telegram.sent(7601)]
    assert sum(PRIVATE in r for r in replies) == len(private), replies
    assert sum(SCHEME in r for r in replies) == len(other), replies
    assert site.hits == []
    assert await recordings_of(settings, 7601) == []
    workspace = await workspace_of(settings, 7601)
    assert workspace is not None
    assert before.changed_beyond(await snapshot(settings), workspace.id) == []
    assert leftovers(settings) == []


@dataclass(frozen=True)
class Run:
    returncode: int
    stderr: str
    cwd: Path


CLI_CASES = {
    # name: (what is given, the reason it must name)
    "pdf_named_mp4": ("lecture.mp4", "not an audio or video file"),
    "zero_bytes": ("empty.mp4", "the file is empty"),
    "truncated_mp4": ("truncated.mp4", "the file is incomplete"),
    "video_without_audio": ("mute.mp4", "there is no audio track"),
    "all_silent": ("silent.mp4", "nobody speaks in it"),
    "six_hours": ("six-hours.mp4", "the recording is too long"),
    "missing_file": ("nothing-here.mp4", "no such file"),
    "file_url": ("file:///etc/passwd", "only open http:// and https:// links"),
    "loopback_url": ("{site}/media/lecture.mp4", "private or local network address"),
    "metadata_url": ("http://169.254.169.254/latest/meta-data/", "private or local network"),
}


@pytest.fixture(scope="module")
async def cli_runs(
    tmp_path_factory: pytest.TempPathFactory, inputs: Inputs, site: MediaSite
) -> dict[str, Run]:
    """Every case of `leap process`, run at once, each in a folder of its own."""
    root = tmp_path_factory.mktemp("safety-cli")
    files = {
        "lecture.mp4": inputs.pdf,
        "empty.mp4": inputs.empty,
        "truncated.mp4": inputs.truncated,
        "mute.mp4": inputs.mute,
        "silent.mp4": inputs.silent,
        "six-hours.mp4": inputs.six_hours,
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_"))}
    env.pop("ALLOW_PRIVATE_URLS", None)
    env.update(
        DATABASE_URL=f"sqlite+aiosqlite:///{root / 'cli.db'}", STORAGE_DIR=str(root / "storage")
    )

    async def run(name: str, given: str) -> Run:
        cwd = root / name
        cwd.mkdir()
        if given in files:
            shutil.copyfile(files[given], cwd / given)
        proc = await asyncio.create_subprocess_exec(
            *LEAP, "process", given.format(site=site.base_url), "--until", "trim",
            cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _out, err = await proc.communicate()
        assert proc.returncode is not None
        return Run(proc.returncode, err.decode(), cwd)

    results = await asyncio.gather(*(run(name, case[0]) for name, case in CLI_CASES.items()))
    return dict(zip(CLI_CASES, results, strict=True))


@pytest.mark.parametrize("name", list(CLI_CASES))
def test_leap_process_refuses_with_one_line_and_leaves_nothing(
    cli_runs: dict[str, Run], site: MediaSite, name: str
) -> None:
    run = cli_runs[name]
    _given, reason = CLI_CASES[name]
    assert run.returncode != 0
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("leap process: "), run.stderr
    assert reason in run.stderr
    made = sorted(str(p.relative_to(run.cwd)) for p in run.cwd.rglob("*"))
    assert [p for p in made if p != "out" and not p.endswith(".mp4")] == [], made
    assert not any(".part" in p for p in made)
    assert site.hits == []
