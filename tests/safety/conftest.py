"""The safety suite's world: bad inputs made once, and one running bot per module.

Every module here shares one bot (polling, web server and both workers) with its own fake
Bot API, database, media folder and Redis database, so a test costs what its own work costs.
Tests use their own users and chats and let their recordings come to rest before they end,
which lets the next test check that its bad input changed nothing of anyone else's.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import re
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from leap.settings import Settings
from storage.db import create_engine, session_maker, upgrade
from storage.files import MediaStore
from storage.models import Base, Recording, Workspace
from tests import synth
from tests.conftest import TEST_SECRET_KEY, TOKEN, RunningBot, _free_port, make_settings, running
from tests.fakes.telegram import BotMessage, FakeTelegram
from tests.synth import Silence, Speech

SPOKEN = "Good morning everyone. Today we talk about signals and how we sample them."
# The Redis database of the safety suite's bots; other tests flush database 0 at will.
REDIS_DB = 7
SIX_HOURS = 6 * 3600


@dataclass(frozen=True)
class Inputs:
    """Recordings, good and bad, as people send them."""

    lecture: Path
    """A few seconds of speech with a tiny picture: a valid lecture."""
    podcast: Path
    """The same speech with no picture at all (AAC in an MP4 container)."""
    mute: Path
    """A video without a sound track."""
    silent: Path
    """A video whose sound track is all zeros."""
    truncated: Path
    """The first 60 % of the lecture's bytes: an interrupted upload."""
    pdf: Path
    """A PDF document."""
    empty: Path
    """No bytes at all."""
    six_hours: Path
    """Six hours of a 16×16 picture at one frame a minute, with ten seconds of sound: a few
    kilobytes that every tool reads as a six-hour recording."""


@pytest.fixture(scope="session")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Inputs:
    folder = tmp_path_factory.mktemp("safety-media")
    lecture = synth.make_lecture(
        folder / "lecture.mp4", (Silence(2.0), Speech(SPOKEN), Silence(2.0)), size="64x48", fps=10
    )
    podcast = synth.make_lecture(
        folder / "podcast.mp4", (Silence(2.0), Speech(SPOKEN), Silence(2.0)), video=False
    )
    silent = synth.make_lecture(
        folder / "silent.mp4", (Silence(6.0),), silent=True, size="64x48", fps=10
    )
    six_hours = folder / "six-hours.mp4"
    subprocess.run(
        [
            "ffmpeg", "-v", "error", "-nostdin", "-y",
            "-f", "lavfi", "-i", f"color=c=gray:s=16x16:r=1/60:d={SIX_HOURS}",
            "-f", "lavfi", "-i", "sine=f=300:sample_rate=8000:d=10",
            "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-b:a", "16k",
            str(six_hours),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    empty = folder / "empty.mp4"
    empty.write_bytes(b"")
    return Inputs(
        lecture=lecture.path,
        podcast=podcast.path,
        mute=synth.video_only(folder / "mute.mp4", seconds=3.0),
        silent=silent.path,
        truncated=synth.truncated_copy(lecture.path, folder / "truncated.mp4"),
        pdf=synth.fake_pdf(folder / "slides.pdf"),
        empty=empty,
        six_hours=six_hours,
    )


def safety_settings(root: Path, telegram: FakeTelegram, redis_url: str, **extra: Any) -> Settings:
    database_url = f"sqlite+aiosqlite:///{root / 'leap.db'}"
    base, _, _db = redis_url.rpartition("/")
    values: dict[str, Any] = {
        "telegram_bot_token": TOKEN,
        "telegram_api_url": telegram.base_url,
        "database_url": database_url,
        "redis_url": f"{base}/{REDIS_DB}",
        "storage_dir": root / "storage",
        "web_port": _free_port(),
        "progress_interval": 0.2,
        "throttle_rate": 20.0,
        "throttle_burst": 20,
        "secret_key": TEST_SECRET_KEY,
        "shutdown_grace": 5.0,
    }
    values.update(extra)
    return make_settings(**values)


async def flush_redis(url: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()


@dataclass
class World:
    """A running bot and the fake Bot API its people use."""

    app: RunningBot
    telegram: FakeTelegram

    @property
    def settings(self) -> Settings:
        return self.app.settings


@contextlib.asynccontextmanager
async def world_at(root: Path, redis_url: str, **extra: Any) -> AsyncIterator[World]:
    telegram = FakeTelegram(TOKEN, files_dir=root / "bot-api-files")
    await telegram.start()
    try:
        settings = safety_settings(root, telegram, redis_url, **extra)
        await asyncio.to_thread(upgrade, settings.database_url)
        await flush_redis(settings.redis_url)
        async with running(settings, telegram) as app:
            yield World(app, telegram)
    finally:
        await telegram.stop()


@pytest.fixture(scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> AsyncIterator[World]:
    async with world_at(tmp_path_factory.mktemp("safety"), redis_url) as found:
        yield found


# --- what a person reads ----------------------------------------------------------------------


def seen(message: BotMessage) -> str:
    """The text without its HTML markup, as the person reads it."""
    return html.unescape(re.sub(r"<[^>]*>", "", message.content or ""))


def labels(message: BotMessage) -> list[str]:
    return [label for label, _data in message.buttons]


async def reply_to(
    telegram: FakeTelegram, chat_id: int, mark: int, contains: str, timeout: float = 30.0
) -> BotMessage:
    """The first message from `mark` on that says (or comes to say, by edits) `contains`."""
    message = await telegram.wait_for_message(chat_id, after=mark, timeout=timeout)
    await telegram.wait_for(lambda: contains in seen(message), timeout=timeout)
    return message


# --- the database and the media folder --------------------------------------------------------


async def select(settings: Settings, query: Any) -> list[Any]:
    engine = create_engine(settings.database_url)
    try:
        async with session_maker(engine)() as session:
            return list((await session.scalars(query)).all())
    finally:
        await engine.dispose()


async def workspace_of(settings: Settings, chat_id: int) -> Workspace | None:
    found = await select(settings, sa.select(Workspace).where(Workspace.chat_id == chat_id))
    return found[0] if found else None


async def recordings_of(settings: Settings, chat_id: int) -> list[Recording]:
    query = (
        sa.select(Recording)
        .join(Workspace, Workspace.id == Recording.workspace_id)
        .where(Workspace.chat_id == chat_id)
        .order_by(Recording.id)
    )
    return await select(settings, query)


async def at_rest(
    settings: Settings, chat_id: int, count: int = 1, timeout: float = 60.0
) -> list[Recording]:
    """The chat's recordings once there are `count` and no worker owes any of them more."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        found = await recordings_of(settings, chat_id)
        if len(found) >= count and all(r.status.is_terminal for r in found):
            return found
        if loop.time() > deadline:
            states = [(r.id, r.status, r.stage) for r in found]
            raise AssertionError(f"recordings of chat {chat_id} not at rest: {states}")
        await asyncio.sleep(0.1)


def folder_of(settings: Settings, recording: Recording) -> Path:
    return MediaStore(settings.storage_dir).recording_dir(
        recording.workspace_id, recording.id, create=False
    )


def leftovers(settings: Settings) -> list[Path]:
    """Half-written files anywhere in the media folder."""
    root = settings.storage_dir
    if not root.exists():
        return []
    return [p for p in root.rglob("*") if p.name.endswith(".part") or p.name.startswith(".trim-")]


@dataclass(frozen=True)
class Snapshot:
    """Every row of every table and every stored file, each under the workspace it belongs to."""

    rows: dict[tuple[str, Any], tuple[int | None, tuple[Any, ...]]]
    files: dict[str, tuple[int | None, int]]

    def changed_beyond(self, later: Snapshot, *allowed: int) -> list[str]:
        """What differs between the two snapshots outside the `allowed` workspaces."""
        changes: list[str] = []
        for key in self.rows.keys() | later.rows.keys():
            before, after = self.rows.get(key), later.rows.get(key)
            if before == after:
                continue
            owner = (before or after or (None, ()))[0]
            if owner not in allowed:
                changes.append(f"row {key}: {before} -> {after}")
        for name in self.files.keys() | later.files.keys():
            before_file, after_file = self.files.get(name), later.files.get(name)
            if before_file == after_file:
                continue
            owner = (before_file or after_file or (None, 0))[0]
            if owner not in allowed:
                changes.append(f"file {name}: {before_file} -> {after_file}")
        return changes


async def snapshot(settings: Settings) -> Snapshot:
    rows: dict[tuple[str, Any], tuple[int | None, tuple[Any, ...]]] = {}
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            for table in Base.metadata.sorted_tables:
                for row in (await conn.execute(sa.select(table))).mappings():
                    owner = row["id"] if table.name == "workspaces" else row.get("workspace_id")
                    key = (table.name, tuple(row[c.name] for c in table.primary_key.columns))
                    rows[key] = (owner, tuple(row.values()))
    finally:
        await engine.dispose()
    files: dict[str, tuple[int | None, int]] = {}
    root = settings.storage_dir
    if root.exists():
        for path in root.rglob("*"):
            if path.is_file():
                parts = path.relative_to(root).parts
                owner = int(parts[1]) if parts[:1] == ("workspaces",) and len(parts) > 1 else None
                files[str(path.relative_to(root))] = (owner, path.stat().st_size)
    return Snapshot(rows, files)
