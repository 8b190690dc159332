"""Publishing to Yandex Disk against the fake Yandex: folder, files, link, and every fault."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from storage import repo
from storage.models import PublicationStatus, RecordingStatus
from tests.conftest import running
from tests.fakes.yandex import FakeYandex
from tests.jobs.conftest import World

TRANSCRIPT = {
    "language": "en",
    "segments": [
        {"start": 0.0, "end": 2.0, "text": "Good morning everyone."},
        {"start": 2.0, "end": 4.5, "text": "Today we sample a signal."},
    ],
}


@pytest.fixture
async def yandex() -> AsyncIterator[FakeYandex]:
    async with FakeYandex() as fake:
        fake.add_account("ann", "Ann Petrova")
        yield fake


@pytest.fixture
async def disk_world(world: World, yandex: FakeYandex) -> World:
    """The reviewed recording, a transcript beside it, and settings that know the fake Yandex."""
    (world.folder / "transcript.json").write_text(json.dumps(TRANSCRIPT), encoding="utf-8")
    settings = world.settings.model_copy(
        update={
            "yandex_client_id": yandex.client_id,
            "yandex_client_secret": SecretStr(yandex.client_secret),
            "yandex_oauth_url": yandex.oauth_url,
            "yandex_disk_api_url": yandex.api_url,
        }
    )
    return dataclasses.replace(world, settings=settings)


async def connect(world: World, yandex: FakeYandex, *, ttl: float | None = None) -> dict[str, Any]:
    """The account as the connect flow stores it; `ttl` makes the Disk's token die early."""
    payload = {
        "access_token": yandex.token_for("ann", ttl=ttl),
        "refresh_token": yandex.refresh_token_for("ann"),
        "expires_at": (datetime.now(UTC) + timedelta(days=300)).isoformat(),
        "login": "ann",
        "uid": "1000",
    }
    await world.connect("yandex", "Ann Petrova (ann)", payload)
    return payload


async def in_russian(world: World) -> None:
    async def update(session: Any) -> None:
        recording = await repo.get_recording(session, world.workspace_id, world.recording_id)
        assert recording is not None
        recording.language = "ru"

    await world._session_call(update)


def folder_of(world: World, course: str | None = None) -> str:
    lecture = f"Signals, lecture 3 sampling ({world.recording_id})"
    return f"disk:/LEAP/{course}/{lecture}" if course else f"disk:/LEAP/{lecture}"


async def test_the_lecture_goes_into_its_course_folder_and_the_folder_link_is_sent(
    disk_world: World, yandex: FakeYandex
) -> None:
    world = disk_world
    await connect(world, yandex)
    await world.set_compose(template="Signals course")

    async with running(world.settings, world.telegram):
        assert await world.publish(["yandex_disk"]) == ["yandex_disk"]
        links = await world.links_message()

    ann = yandex.accounts["ann"]
    folder = folder_of(world, "Signals course")
    stem = f"{folder}/Signals, lecture 3 sampling"
    assert ann.files[f"{stem}.mp4"] == (world.folder / "video.mp4").read_bytes()
    assert ann.files[f"{stem}.srt"] == (world.folder / "subtitles.srt").read_bytes()
    assert ann.files[f"{stem}.vtt"] == (world.folder / "subtitles.vtt").read_bytes()
    transcript = ann.files[f"{stem} — Transcript.txt"].decode()
    assert "[00:00:02] Today we sample a signal." in transcript
    description = ann.files[f"{stem}.txt"].decode()
    assert description.startswith("Signals, lecture 3: sampling") and "0:04 Aliasing" in description
    assert set(ann.files) == {
        f"{stem}.mp4",
        f"{stem}.srt",
        f"{stem}.vtt",
        f"{stem} — Transcript.txt",
        f"{stem}.txt",
    }
    # Only the lecture's folder is opened by link, not the course's.
    [(published, url)] = ann.published.items()
    assert published == folder
    assert f"✅ Yandex Disk: {url}" in links.content
    publication = (await world.publications())["yandex_disk"]
    assert (publication.status, publication.url) == (PublicationStatus.DONE.value, url)
    assert publication.remote_id == folder
    assert (await world.recording()).status == RecordingStatus.READY.value


async def test_an_upload_broken_mid_way_resumes_without_sending_anything_twice(
    disk_world: World, yandex: FakeYandex
) -> None:
    world = disk_world
    await connect(world, yandex)
    # The video's connection is cut half way once (sent again at once, whole); the subtitles
    # fail more often than one job tries, so the job comes back later for the rest.
    yandex.fail_upload(times=1, drop=True, suffix=".mp4")
    yandex.fail_upload(times=4, status=503, suffix=".srt")

    async with running(world.settings, world.telegram):
        await world.publish(["yandex_disk"])
        links = await world.links_message()

    stem = f"{folder_of(world)}/Signals, lecture 3 sampling"
    size = (world.folder / "video.mp4").stat().st_size
    video_puts = yandex.uploads_to(f"{stem}.mp4")
    assert [status for _got, status in video_puts] == [0, 201]
    assert video_puts[0][0] < size and video_puts[1][0] == size
    assert [s for _g, s in yandex.uploads_to(f"{stem}.srt")] == [503, 503, 503, 503, 201]
    for suffix in (".vtt", ".txt", " — Transcript.txt"):
        assert [s for _g, s in yandex.uploads_to(stem + suffix)] == [201], suffix
    assert len(yandex.accounts["ann"].files) == 5
    publication = (await world.publications())["yandex_disk"]
    assert publication.attempts == 2 and publication.status == PublicationStatus.DONE.value
    assert publication.url and publication.url in links.content


async def test_a_token_the_disk_no_longer_takes_is_refreshed_and_the_new_pair_kept(
    disk_world: World, yandex: FakeYandex
) -> None:
    world = disk_world
    old = await connect(world, yandex, ttl=-1)

    async with running(world.settings, world.telegram):
        await world.publish(["yandex_disk"])
        links = await world.links_message()

    assert "✅ Yandex Disk: https://disk.yandex.ru/d/" in links.content
    [credential] = await world.credentials()
    kept = world.box.decrypt(credential.payload)
    assert kept["access_token"] != old["access_token"]
    assert kept["refresh_token"] != old["refresh_token"]
    assert yandex.owner_of(kept["access_token"]) == "ann" and kept["login"] == "ann"
    refreshes = [r for r in yandex.token_requests if r["grant_type"] == "refresh_token"]
    assert len(refreshes) == 1


@pytest.mark.parametrize(
    ("lang", "told", "reason"),
    [
        ("en", "Yandex Disk no longer accepts the bot's access", "needs to be connected again"),
        ("ru", "Яндекс Диск больше не принимает доступ бота", "нужно подключить заново"),
    ],
)
async def test_a_revoked_grant_asks_the_chat_to_connect_again(
    disk_world: World, yandex: FakeYandex, lang: str, told: str, reason: str
) -> None:
    world = disk_world
    if lang == "ru":
        await in_russian(world)
    await connect(world, yandex)
    yandex.revoke("ann")

    async with running(world.settings, world.telegram):
        await world.publish(["yandex_disk"])
        prompt = await world.telegram.wait_for_message(
            world.chat["id"], lambda m: (m.content or "").startswith("⚠️"), after=0
        )
        links = await world.links_message()

    assert told in prompt.content
    assert reason in links.content
    assert yandex.accounts["ann"].files == {}
    [credential] = await world.credentials()
    assert world.box.decrypt(credential.payload)["broken"] is True
    publication = (await world.publications())["yandex_disk"]
    assert publication.status == PublicationStatus.FAILED.value


@pytest.mark.parametrize(
    ("lang", "reason"),
    [
        ("en", "There is no room on Yandex Disk (1."),
        ("ru", "На Яндекс Диске нет места (1,"),
    ],
)
async def test_a_full_disk_fails_with_a_clear_reason(
    disk_world: World, yandex: FakeYandex, lang: str, reason: str
) -> None:
    world = disk_world
    if lang == "ru":
        await in_russian(world)
    yandex.accounts["ann"].total_space = 1_000_000
    await connect(world, yandex)

    async with running(world.settings, world.telegram):
        await world.publish(["yandex_disk"])
        links = await world.links_message()

    assert reason in links.content, links.content
    stem = f"{folder_of(world)}/Signals, lecture 3 sampling"
    assert [s for _g, s in yandex.uploads_to(f"{stem}.mp4")] == [507]
    publication = (await world.publications())["yandex_disk"]
    assert publication.status == PublicationStatus.FAILED.value
    assert publication.attempts == 1
