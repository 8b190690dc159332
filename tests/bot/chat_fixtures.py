"""The chat's world for review, recordings, templates and settings tests.

`reviewable` builds a recording exactly as the pipeline leaves it (row, folder, files) and
lets a worker announce it, so a test starts at the review card in a second instead of after
a full pipeline run. `SlowFilesTelegram` serves downloads at a chosen pace, which keeps a
fetch stage running for as long as a test needs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import re
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import web
from arq.connections import create_pool

from jobs import cards, files
from jobs.facts import recording_facts
from jobs.worker import build_deps, close_deps, redis_settings
from leap.app import serve
from leap.settings import Settings
from pipeline import templates
from pipeline.topics import Topic, Topics
from storage import repo
from storage.db import create_engine, session_maker
from storage.models import Recording, RecordingStatus, Role, SourceKind, WorkspaceKind
from tests.conftest import TOKEN
from tests.fakes.telegram import BotMessage, FakeTelegram

VIDEO_SECONDS = 80.0
TOPICS = (
    (0.0, "Introduction"),
    (20.0, "Sampling"),
    (41.0, "Aliasing"),
    (62.0, "Questions"),
)
SRT = "1\n00:00:01,000 --> 00:00:03,000\nGood morning everyone.\n\n"
VTT = "WEBVTT\n\n00:00:01.000 --> 00:00:03.000\nGood morning everyone.\n\n"


def seen(message: BotMessage) -> str:
    """What a person reads: the text without its HTML markup."""
    return html.unescape(re.sub(r"<[^>]*>", "", message.content or ""))


def button(message: BotMessage, text: str) -> str:
    """The callback data of the button whose label holds `text`."""
    found = [data for label, data in message.buttons if text in label]
    assert found, f"no button {text!r} in {message.buttons}"
    return found[0]


class SlowFilesTelegram(FakeTelegram):
    """The fake Bot API whose file downloads take `bytes_per_second`, when that is set."""

    bytes_per_second: float | None = None

    async def _handle_download(self, request: web.Request) -> web.StreamResponse:
        stored = self._files_by_path.get(request.match_info["path"])
        if self.bytes_per_second is None or stored is None:
            return await super()._handle_download(request)
        response = web.StreamResponse()
        response.content_length = stored.path.stat().st_size
        await response.prepare(request)
        step = max(int(self.bytes_per_second / 20), 1)
        with stored.path.open("rb") as fh:
            while block := fh.read(step):
                await response.write(block)
                await asyncio.sleep(0.05)
                if self.bytes_per_second is None:
                    step = 1 << 22
        await response.write_eof()
        return response


@pytest.fixture(name="telegram")
async def slow_files_telegram(tmp_path: Path) -> AsyncIterator[SlowFilesTelegram]:
    """Replaces conftest's `telegram` in the modules that import it."""
    fake = SlowFilesTelegram(TOKEN, files_dir=tmp_path / "bot-api-files")
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture(scope="session")
def lecture_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eighty seconds of a tiny picture and a quiet tone: enough for four chapters."""
    path = tmp_path_factory.mktemp("chat-review") / "video.mp4"
    subprocess.run(
        [
            "ffmpeg", "-v", "error", "-y",
            "-f", "lavfi", "-i", f"color=c=navy:s=64x64:r=2:d={VIDEO_SECONDS}",
            "-f", "lavfi", "-i", f"sine=f=300:sample_rate=8000:d={VIDEO_SECONDS}",
            "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-b:a", "16k",
            "-shortest", str(path),
        ],
        check=True,
    )  # fmt: skip
    return path


async def rows(settings: Settings, model: type, **where: Any) -> list[Any]:
    engine = create_engine(settings.database_url)
    try:
        async with session_maker(engine)() as session:
            query = sa.select(model)
            for key, value in where.items():
                query = query.where(getattr(model, key) == value)
            return list((await session.scalars(query.order_by(model.id))).all())
    finally:
        await engine.dispose()


async def recording_row(settings: Settings, recording_id: int) -> Recording:
    found = await rows(settings, Recording, id=recording_id)
    assert found, f"recording {recording_id} is gone"
    return found[0]


@dataclass
class Reviewable:
    recording_id: int
    workspace_id: int
    folder: Path
    progress_id: int


async def reviewable(
    settings: Settings,
    telegram: FakeTelegram,
    chat: dict[str, Any],
    owner: dict[str, Any],
    video: Path,
    *,
    name: str = "signals-lecture.mp4",
    language: str = "en",
    thread_id: int | None = None,
    flags: list[dict[str, str]] | None = None,
    compose: dict[str, Any] | None = None,
    transcript: dict[str, Any] | None = None,
) -> Reviewable:
    """A recording the pipeline has just finished, announced by a worker's pipeline_finished."""
    redis = await create_pool(redis_settings(settings))
    deps = await build_deps(settings, redis)
    try:
        group = chat["type"] != "private"
        async with deps.sessions() as session:
            workspace, _created = await repo.ensure_workspace(
                session,
                chat["id"],
                WorkspaceKind.GROUP if group else WorkspaceKind.PERSONAL,
                chat.get("title") or owner["first_name"],
            )
            await repo.upsert_member(
                session, workspace.id, owner["id"], role=Role.OWNER, name=owner["first_name"]
            )
            recording = await repo.create_recording(
                session,
                workspace.id,
                created_by=owner["id"],
                source_kind=SourceKind.TELEGRAM,
                source_ref="file-id",
                source_name=name,
                source_ext="mp4",
                language=language,
                chat_id=chat["id"],
                thread_id=thread_id,
                status=RecordingStatus.AWAITING_REVIEW,
                stage=None,
            )
            folder = deps.store.recording_dir(workspace.id, recording.id)
            _write_files(folder, video, recording)
            summaries = {"fetch": "✅ Received: 1:35, 64×64, 120 KB", "trim": "✂️ 1:35 → 1:20"}
            recording.media = {
                "source": {"duration": 95.0},
                "trim": {"source_duration": 95.0, "duration": VIDEO_SECONDS, "keep": []},
                "quality": {"flags": list(flags or [])},
                "compose": {"template": "default", **(compose or {})},
                "summaries": summaries,
            }
            if transcript is not None:
                recording.media["transcript"] = transcript
            title = cards.display_name(recording)
            progress = await deps.bot.send_message(
                chat["id"], f"🎬 <b>{title}</b>", message_thread_id=thread_id
            )
            recording.progress_message_id = progress.message_id
            metadata = templates.compose_metadata(
                templates.DEFAULT_TEMPLATE,
                recording_facts(recording),
                Topics.load_json(folder / files.TOPICS),
                VIDEO_SECONDS,
            )
            files.write_text(folder / files.METADATA, metadata.dump_json())
            await session.commit()
            result = Reviewable(recording.id, workspace.id, folder, progress.message_id)
        await cards.pipeline_finished(deps, recording, summaries)
        return result
    finally:
        await close_deps(deps)
        await redis.aclose()


def _write_files(folder: Path, video: Path, recording: Recording) -> None:
    (folder / files.VIDEO).write_bytes(video.read_bytes())
    segments = [
        {"start": start + 1.0, "end": start + 4.0, "text": f"Now {title.lower()}."}
        for start, title in TOPICS
    ]
    (folder / files.TRANSCRIPT).write_text(json.dumps({"language": "en", "segments": segments}))
    found = Topics(
        summary="A lecture on signals.",
        topics=[Topic(start=start, title=title) for start, title in TOPICS],
    )
    (folder / files.TOPICS).write_text(found.dump_json())
    (folder / files.SRT).write_text(SRT)
    (folder / files.VTT).write_text(VTT)


@contextlib.asynccontextmanager
async def bot_only(settings: Settings) -> AsyncIterator[None]:
    """The bot without workers: what it accepts stays queued, so nothing moves on its own."""
    stop = asyncio.Event()
    ready = asyncio.Event()
    task = asyncio.create_task(serve(settings, queues=(), stop=stop, ready=ready))
    await asyncio.wait_for(ready.wait(), 30)
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
