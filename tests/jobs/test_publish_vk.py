"""Publishing to a VK community with a person's VK ID token, against the fake VK."""

from __future__ import annotations

import dataclasses
import shutil
from typing import Any

from storage import repo
from storage.models import PublicationStatus, RecordingStatus, SourceKind
from tests.conftest import running
from tests.jobs.conftest import VK_GROUP, VK_USER, World


async def test_video_goes_to_the_community_after_a_rate_limit(world: World) -> None:
    await world.connect_vk()
    await world.set_compose(vk_album_id="17")
    world.vk.fail("video.save", code=6)  # "too many requests per second", once

    async with running(world.settings, world.telegram):
        assert await world.publish(["vk"]) == ["vk"]
        links = await world.links_message()

    [saved] = world.vk.videos
    assert [c.error for c in world.vk.calls if c.method == "video.save"] == [6, None]
    assert (saved.group_id, saved.album_id, saved.owner_id) == (VK_GROUP, 17, -VK_GROUP)
    assert saved.title == "Signals, lecture 3: sampling"
    assert "0:02 Sampling a signal" in saved.description
    assert saved.data == (world.folder / "video.mp4").read_bytes()
    assert saved.uploads == 1
    url = f"https://vk.com/video-{VK_GROUP}_{saved.video_id}"
    assert url in links.content
    publication = (await world.publications())["vk"]
    assert publication.status == PublicationStatus.DONE.value
    assert publication.remote_id == f"-{VK_GROUP}_{saved.video_id}"
    assert (await world.recording()).status == RecordingStatus.READY.value


async def test_a_failed_transfer_is_retried_into_the_same_video(world: World) -> None:
    await world.connect_vk()
    # Every transfer of the first attempt fails (one try and three quick retries inside it).
    world.vk.fail_upload(times=4, status=500)

    async with running(world.settings, world.telegram):
        await world.publish(["vk"])
        links = await world.links_message()

    # The job came back later, found the video it had saved, and sent the file to it.
    [saved] = world.vk.videos
    assert saved.data == (world.folder / "video.mp4").read_bytes()
    assert [c.method for c in world.vk.calls].count("video.save") == 1
    assert any(c.method == "video.get" for c in world.vk.calls)
    assert f"video-{VK_GROUP}_{saved.video_id}" in links.content
    assert (await world.publications())["vk"].attempts == 2


async def test_rejected_token_asks_the_chat_to_reconnect(world: World) -> None:
    payload = await world.connect_vk()
    world.vk.revoke(payload["access_token"])
    async with running(world.settings, world.telegram):
        await world.publish(["vk"])
        prompt = await world.telegram.wait_for_message(
            world.chat["id"], lambda m: "/connect" in (m.content or ""), after=0
        )
        links = await world.links_message()

    assert "VK no longer accepts" in prompt.content
    assert "❌ VK" in links.content and "connected again" in links.content
    assert world.vk.videos == []
    publication = (await world.publications())["vk"]
    assert publication.status == PublicationStatus.FAILED.value
    [credential] = await world.credentials()
    assert world.box.decrypt(credential.payload)["broken"] is True
    assert (await world.recording()).status == RecordingStatus.FAILED.value


async def test_token_near_expiry_is_refreshed_and_the_new_pair_kept(world: World) -> None:
    old = await world.connect_vk(expires_in=120)
    async with running(world.settings, world.telegram):
        await world.publish(["vk"])
        await world.links_message()

    [credential] = await world.credentials()
    kept = world.box.decrypt(credential.payload)
    assert kept["refresh_token"] != old["refresh_token"]
    assert kept["access_token"] != old["access_token"]
    assert kept["device_id"] == old["device_id"]
    assert world.vk.owner_of(kept["access_token"]) == ("user", VK_USER)
    refreshes = [r for r in world.vk.token_requests if r["grant_type"] == "refresh_token"]
    assert len(refreshes) == 1
    [saved] = world.vk.videos
    assert saved.data is not None


async def another_lecture(world: World) -> World:
    """A second reviewed recording in the same chat, with the same files, as its own World."""

    async def create(session: Any) -> int:
        first = await repo.get_recording(session, world.workspace_id, world.recording_id)
        assert first is not None
        second = await repo.create_recording(
            session,
            world.workspace_id,
            created_by=world.user["id"],
            source_kind=SourceKind.TELEGRAM,
            source_ref="file-id-2",
            source_name="lecture 2.mp4",
            source_ext="mp4",
            status=RecordingStatus.AWAITING_REVIEW,
            language="en",
            chat_id=world.chat["id"],
            media=dict(first.media),
        )
        return second.id

    recording_id = await world._session_call(create)
    folder = world.folder.parent / str(recording_id)
    shutil.copytree(world.folder, folder)
    return dataclasses.replace(world, recording_id=recording_id, folder=folder)


async def test_two_publications_at_once_refresh_the_token_once_and_keep_the_connection(
    world: World,
) -> None:
    old = await world.connect_vk(expires_in=120)
    second = await another_lecture(world)
    # VK ID answers slowly, so both jobs hold the same single-use refresh token at once.
    world.vk.token_delay = 0.5
    assert await world.publish(["vk"]) == ["vk"]
    assert await second.publish(["vk"]) == ["vk"]

    async with running(world.settings, world.telegram):
        await world.telegram.wait_for(lambda: len(world.links_messages()) == 2, timeout=30)

    refreshes = [r for r in world.vk.token_requests if r["grant_type"] == "refresh_token"]
    assert [r["refresh_token"] for r in refreshes] == [old["refresh_token"]]
    assert len(world.vk.videos) == 2
    assert all(v.data == (world.folder / "video.mp4").read_bytes() for v in world.vk.videos)
    assert all(v.uploads == 1 for v in world.vk.videos)
    for one in (world, second):
        publication = (await one.publications())["vk"]
        assert publication.status == PublicationStatus.DONE.value, publication.error
    [credential] = await world.credentials()
    kept = world.box.decrypt(credential.payload)
    assert "broken" not in kept
    assert kept["refresh_token"] != old["refresh_token"]
    assert world.vk.owner_of(kept["access_token"]) == ("user", VK_USER)
    assert not any("/connect" in (m.content or "") for m in world.telegram.sent(world.chat["id"]))
