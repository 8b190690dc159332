"""The local export: a zip in the chat, or a signed download link when it is too big."""

from __future__ import annotations

import io
import json
import time
import zipfile

import httpx

from integrations import export
from storage.models import PublicationStatus, RecordingStatus
from tests.conftest import running
from tests.jobs.conftest import METADATA, SRT, World

NAMES = ["video.mp4", "subtitles.srt", "subtitles.vtt", "metadata.json", "description.txt"]


def _check_archive(world: World, data: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.namelist() == NAMES
        assert archive.read("video.mp4") == (world.folder / "video.mp4").read_bytes()
        assert archive.read("subtitles.srt").decode() == SRT
        assert json.loads(archive.read("metadata.json"))["title"] == METADATA["title"]
        description = archive.read("description.txt").decode()
    assert description.startswith("Signals, lecture 3: sampling\n\nHow we measure")
    assert "0:04 Aliasing" in description


async def test_archive_is_sent_to_the_chat_when_it_fits(world: World) -> None:
    async with running(world.settings, world.telegram):
        assert await world.publish(["export"]) == ["export"]
        links = await world.links_message()

    [document] = [m for m in world.telegram.sent(world.chat["id"]) if m.document is not None]
    assert document.document.file_name == "Signals, lecture 3 sampling.zip"
    _check_archive(world, document.document.data)
    assert "Archive: the archive is in the chat above" in links.content
    assert (await world.publications())["export"].status == PublicationStatus.DONE.value
    assert (await world.recording()).status == RecordingStatus.READY.value


async def test_archive_too_big_for_telegram_gets_a_signed_expiring_link(world: World) -> None:
    small = world.settings.model_copy(update={"cloud_upload_limit_mb": 0.5})

    async with running(small, world.telegram):
        await world.publish(["export"])
        links = await world.links_message()
        url = (await world.publications())["export"].url
        assert url is not None and url.startswith(f"{world.settings.public_base_url}/export/")
        async with httpx.AsyncClient() as http:
            download = await http.get(url)
            token = url.rsplit("/", 1)[1]
            forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
            refused = await http.get(url.replace(token, forged))
            other = token.replace(f".{world.recording_id}.", f".{world.recording_id + 1}.", 1)
            elsewhere = await http.get(url.replace(token, other))

    assert download.status_code == 200
    assert "attachment" in download.headers["Content-Disposition"]
    _check_archive(world, download.content)
    assert refused.status_code == 410 and "expired or is not valid" in refused.text
    assert elsewhere.status_code == 410
    assert url in links.content and "the link works until" in links.content
    assert not any(m.document for m in world.telegram.sent(world.chat["id"]))


def test_download_links_expire_and_cannot_be_stretched() -> None:
    key = export.link_key("secret")
    now = time.time()
    token = export.sign(key, 3, 14, int(now) + 60)

    assert export.verify(key, token, now=now) == (3, 14)
    assert export.verify(key, token, now=now + 61) is None
    stretched = token.replace(f".{int(now) + 60}.", f".{int(now) + 6000}.")
    assert export.verify(key, stretched, now=now) is None
    assert export.verify(export.link_key("another secret"), token, now=now) is None
    assert export.verify(key, "../../etc/passwd", now=now) is None


async def test_an_archive_whose_answer_was_lost_is_not_sent_again(world: World) -> None:
    world.telegram.fail_after("sendDocument", error_code=502)

    async with running(world.settings, world.telegram):
        await world.publish(["export"])
        links = await world.links_message()

    [document] = [m for m in world.telegram.sent(world.chat["id"]) if m.document is not None]
    _check_archive(world, document.document.data)
    publication = (await world.publications())["export"]
    assert publication.status == PublicationStatus.FAILED.value
    assert "may already be in this chat" in links.content
