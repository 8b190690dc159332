"""Publish presets reaching the platforms: what the fake YouTube and VK receive and say."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from storage import repo
from tests.conftest import running
from tests.jobs.conftest import World

SCHEDULED = {"en": "Scheduled for", "ru": "Публикация запланирована на"}


async def _language(world: World, lang: str) -> None:
    async def update(session: Any) -> None:
        recording = await repo.get_recording(session, world.workspace_id, world.recording_id)
        assert recording is not None
        recording.language = lang

    await world._session_call(update)


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_a_scheduled_video_is_uploaded_private_with_its_time(world: World, lang: str) -> None:
    await world.connect_youtube()
    await _language(world, lang)
    playlist = world.google.add_playlist("Signals")
    when = (datetime.now(UTC) + timedelta(days=3)).replace(
        hour=10, minute=0, second=0, microsecond=0
    )
    # The template's presets, as the compose stage writes them.
    await world.set_compose(
        privacy="public",
        publish_at=when.isoformat(),
        license="creativeCommon",
        category_id="28",
        made_for_kids=False,
        notify_subscribers=False,
        playlist_id=playlist,
    )

    async with running(world.settings, world.telegram):
        await world.publish(["youtube"])
        links = await world.links_message()

    [video] = world.google.videos.values()
    [session] = world.google.sessions.values()
    assert video.resource["status"]["privacyStatus"] == "private"
    assert video.resource["status"]["publishAt"] == when.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert video.resource["status"]["license"] == "creativeCommon"
    assert video.resource["status"]["selfDeclaredMadeForKids"] is False
    assert video.resource["snippet"]["categoryId"] == "28"
    assert session.query["notifySubscribers"] == "false"
    assert [i.playlist_id for i in world.google.playlist_items] == [playlist]
    assert f"https://youtu.be/{video.id}" in links.content
    assert SCHEDULED[lang] in links.content and f"{when.day} " in links.content


async def test_a_time_passed_before_the_upload_publishes_at_once(world: World) -> None:
    await world.connect_youtube()
    await world.set_compose(publish_at=(datetime.now(UTC) - timedelta(hours=1)).isoformat())

    async with running(world.settings, world.telegram):
        await world.publish(["youtube"])
        links = await world.links_message()

    [video] = world.google.videos.values()
    assert video.resource["status"]["privacyStatus"] == "public"
    assert "publishAt" not in video.resource["status"]
    assert SCHEDULED["en"] not in links.content


async def test_the_cards_album_goes_to_vk(world: World) -> None:
    await world.connect_vk()
    await world.set_compose(vk_album_id="17", vk_privacy="friends")

    async def choose(session: Any) -> None:
        recording = await repo.get_recording(session, world.workspace_id, world.recording_id)
        assert recording is not None
        recording.media = {**recording.media, "presets": {"vk_album_id": "23"}}

    await world._session_call(choose)
    async with running(world.settings, world.telegram):
        await world.publish(["vk"])
        await world.links_message()

    [video] = world.vk.videos
    assert video.album_id == 23
    # VK takes privacy settings only for videos on a person's own page, not a community's.
    assert video.group_id is not None and video.privacy_view is None
