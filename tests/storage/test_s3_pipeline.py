"""A media worker and an io worker on two machines that share only the bucket.

The bot and the io worker run with one STORAGE_DIR, the media worker with another; the
recording still goes from the chat through every stage to its review card, and publishing
works from a machine whose folder was emptied in between. A bot on a machine of its own, with
none of the files, previews templates on them and serves export links from the bucket.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
import shutil
import zipfile
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from pydantic import SecretStr

from jobs.context import media_store
from leap.app import serve
from leap.settings import Settings
from storage.files import MediaStore
from storage.models import RecordingStatus
from tests import synth
from tests.bot import chat_fixtures
from tests.bot.chat_fixtures import button, reviewable, seen
from tests.bot.test_foundation_e2e import wait_for_rest
from tests.fakes.telegram import FakeTelegram
from tests.storage.test_objects import REGION, MotoS3, start_moto
from tests.synth import Lecture, Silence, Speech

lecture_video = chat_fixtures.lecture_video


@pytest.fixture(scope="module")
def plain_s3() -> Iterator[MotoS3]:
    yield from start_moto(iam=False)


@pytest.fixture(scope="module")
def lecture(tmp_path_factory: pytest.TempPathFactory) -> Lecture:
    folder = tmp_path_factory.mktemp("s3-lecture")
    return synth.make_lecture(
        folder / "lecture.mp4",
        (
            Silence(6.0),
            Speech("Good morning everyone. Today we talk about signals."),
            Silence(2.0),
            Speech("That is all for today. See you next week."),
            Silence(6.0),
        ),
    )


@contextlib.asynccontextmanager
async def machine(
    settings: Settings, *, bot: bool, queues: Sequence[str]
) -> AsyncIterator[asyncio.Task[None]]:
    """One machine's `leap bot`/`leap worker`, in this event loop."""
    stop = asyncio.Event()
    ready = asyncio.Event()
    task = asyncio.create_task(serve(settings, bot=bot, queues=queues, stop=stop, ready=ready))
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED, timeout=30)
    if task.done():
        waiter.cancel()
        task.result()
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


def in_bucket(s3: MotoS3, bucket: str) -> dict[str, Any]:
    """The settings every machine shares to keep its media in `bucket`."""
    return {
        "storage_backend": "s3",
        "s3_endpoint_url": s3.url,
        "s3_region": REGION,
        "s3_bucket": bucket,
        "s3_access_key_id": s3.access_key_id,
        "s3_secret_access_key": SecretStr(s3.secret_access_key),
        "s3_addressing_style": "path",
        "s3_multipart_mb": 5,
    }


def stored_files(folder: Path) -> set[str]:
    return {
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and not p.name.startswith(".")
    }


async def test_media_and_io_workers_on_two_machines_share_only_the_bucket(
    settings: Settings, telegram: FakeTelegram, plain_s3: MotoS3, lecture: Lecture, tmp_path: Path
) -> None:
    bucket = plain_s3.new_bucket()
    shared = in_bucket(plain_s3, bucket)
    io_host = settings.model_copy(update={**shared, "storage_dir": tmp_path / "io-host"})
    media_host = settings.model_copy(
        update={**shared, "storage_dir": tmp_path / "media-host", "worker_nice": 0}
    )

    async with (
        machine(io_host, bot=True, queues=("io",)),
        machine(media_host, bot=False, queues=("media",)),
    ):
        user = telegram.user(951, "Ann", language_code="en")
        chat = telegram.private_chat(user)
        await telegram.send_document(
            chat, user, lecture.path, file_name="signals.mp4", mime_type="video/mp4"
        )
        recording = await wait_for_rest(settings.database_url, timeout=120)
        assert recording.status == RecordingStatus.AWAITING_REVIEW
        card = await telegram.wait_for_message(951, lambda m: "Publish" in str(m.buttons), after=0)
        subtitles = await telegram.wait_for_message(
            951,
            lambda m: m.document is not None and m.document.file_name.endswith(".srt"),
            after=0,
        )
        assert "signals" in subtitles.document.data.decode().lower()

        where = f"workspaces/{recording.workspace_id}/recordings/{recording.id}"
        ids = (recording.workspace_id, recording.id)
        # Each host names the folder with a key of its own; the bucket knows only the ids.
        on_media = MediaStore(tmp_path / "media-host").recording_dir(*ids, create=False)
        on_io = MediaStore(tmp_path / "io-host").recording_dir(*ids, create=False)
        # Each machine made its own stages' files and fetched the rest from the bucket.
        assert {"video.mp4", "transcript.json", "subtitles.srt"} <= stored_files(on_media)
        assert "metadata.json" not in stored_files(on_media)
        assert {"video.mp4", "subtitles.srt", "metadata.json"} <= stored_files(on_io)
        assert (on_media / "video.mp4").read_bytes() == (on_io / "video.mp4").read_bytes()
        keys = {k.removeprefix(where + "/") for k in plain_s3.keys(bucket)}
        assert keys == stored_files(on_io) | stored_files(on_media)
        assert not [k for k in keys if k.startswith(".") or "/." in k or k.endswith(".part")]

        # The io machine loses its copy (a new machine, a cleaned cache): the bot reads the
        # card's files and the publisher its video from the bucket.
        shutil.rmtree(on_io)
        mark = telegram.mark()
        await telegram.press(chat, user, card.message_id, button(card, "Preview"))
        preview = await telegram.wait_for_message(951, after=mark)
        assert "signals" in seen(preview).lower()
        mark = telegram.mark()
        await telegram.press(chat, user, card.message_id, button(card, "Topics"))
        editor = await telegram.wait_for_message(951, after=mark)
        assert any(label.startswith("1.") for label, _ in editor.buttons), editor.buttons
        mark = telegram.mark()
        await telegram.press(chat, user, card.message_id, button(card, "Publish"))
        archive = await telegram.wait_for_message(
            951,
            lambda m: m.document is not None and m.document.file_name.endswith(".zip"),
            timeout=60,
            after=mark,
        )
        with zipfile.ZipFile(io.BytesIO(archive.document.data)) as packed:
            assert packed.read("video.mp4") == (on_media / "video.mp4").read_bytes()
        published = await wait_for_rest(settings.database_url, timeout=60)
        assert published.status == RecordingStatus.READY


async def test_a_bot_without_the_files_previews_templates_and_serves_export_links_from_the_bucket(
    settings: Settings,
    telegram: FakeTelegram,
    plain_s3: MotoS3,
    lecture_video: Path,
    tmp_path: Path,
) -> None:
    bucket = plain_s3.new_bucket()
    shared = {
        **in_bucket(plain_s3, bucket),
        "public_base_url": f"http://127.0.0.1:{settings.web_port}",
        # Any archive is too big to send: the export becomes a download link.
        "cloud_upload_limit_mb": 0.01,
    }
    bot_host = settings.model_copy(update={**shared, "storage_dir": tmp_path / "bot-host"})
    io_host = settings.model_copy(update={**shared, "storage_dir": tmp_path / "io-host"})
    user = telegram.user(961, "Ann", language_code="en")
    chat = telegram.private_chat(user)

    async with (
        machine(bot_host, bot=True, queues=()),
        machine(io_host, bot=False, queues=("io",)),
    ):
        # The pipeline left a recording on the io machine and in the bucket, not on the bot's.
        made = await reviewable(io_host, telegram, chat, user, lecture_video)
        await media_store(io_host).push(made.workspace_id, made.recording_id)
        card = await telegram.wait_for_message(961, lambda m: "Publish" in str(m.buttons), after=0)
        on_bot = MediaStore(tmp_path / "bot-host").recording_dir(
            made.workspace_id, made.recording_id, create=False
        )
        assert not on_bot.exists()

        template = {"name": "Signals", "title_template": "{{ title }} — a lecture"}
        await telegram.send_document(
            chat, user, yaml.safe_dump(template).encode(), file_name="t.yaml", mime_type="text/yaml"
        )
        saved = await telegram.wait_for_message(961, lambda m: "saved from the file" in seen(m))
        mark = telegram.mark()
        await telegram.press(chat, user, saved.message_id, button(saved, "Preview"))
        preview = await telegram.wait_for_message(961, after=mark)
        assert "On «signals-lecture.mp4»" in seen(preview)
        assert "0:20 Sampling" in seen(preview)

        await telegram.press(chat, user, card.message_id, button(card, "Publish"))
        links = await telegram.wait_for_message(
            961, lambda m: seen(m).startswith("📺"), after=0, timeout=60
        )
        [url] = re.findall(r"http://\S+/export/\S+", seen(links))
        # The archive is in the bucket before the link is sent.
        archive = f"workspaces/{made.workspace_id}/recordings/{made.recording_id}/export.zip"
        assert archive in plain_s3.keys(bucket)
        async with httpx.AsyncClient() as http:
            download = await http.get(url)

    assert download.status_code == 200, download.text
    with zipfile.ZipFile(io.BytesIO(download.content)) as packed:
        assert packed.read("video.mp4") == lecture_video.read_bytes()
