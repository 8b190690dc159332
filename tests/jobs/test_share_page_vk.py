"""A share page whose file is gone plays the recording from VK, when VK shows it to everyone.

The recording is published to the fake VK (which answers video.get with its player address and
hash, as VK does); then retention removes the local video, and the page is read as a browser
reads it, over HTTP from the running bot's web server.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from jobs import files, share
from storage import repo
from tests.conftest import running
from tests.jobs.conftest import World

NO_VIDEO = {
    "en": "The video is not available here any more.",
    "ru": "Видео здесь больше недоступно.",
}


async def _share_link(world: World, lang: str) -> str:
    async def turn_on(session: Any) -> str:
        recording = await repo.get_recording(session, world.workspace_id, world.recording_id)
        assert recording is not None
        recording.language = lang
        url = await share.turn_on(session, world.settings, recording, world.user["id"])
        assert url is not None
        return url

    return await world._session_call(turn_on)


async def _forget_hash(world: World) -> None:
    async def forget(session: Any) -> None:
        recording = await repo.get_recording(session, world.workspace_id, world.recording_id)
        assert recording is not None
        publish = dict(recording.media["publish"])
        publish["vk"] = {k: v for k, v in publish["vk"].items() if k != "player_hash"}
        recording.media = {**recording.media, "publish": publish}

    await world._session_call(forget)


async def _page(url: str) -> tuple[int, str, dict[str, str]]:
    async with aiohttp.ClientSession() as http, http.get(url) as answer:
        return answer.status, await answer.text(), dict(answer.headers)


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_with_the_file_gone_the_page_embeds_vks_player(world: World, lang: str) -> None:
    await world.connect_vk()
    await world.set_compose(vk_privacy="all")
    url = await _share_link(world, lang)
    async with running(world.settings, world.telegram):
        await world.publish(["vk"])
        await world.links_message()
        [video] = world.vk.videos
        recording = await world.recording()
        assert recording.media["publish"]["vk"]["player_hash"] == video.embed_hash

        # While the file is here, the page plays it itself.
        status, page, _headers = await _page(url)
        assert status == 200 and 'id="video"' in page and "video_ext.php" not in page

        (world.folder / files.VIDEO).unlink()
        status, page, headers = await _page(url)
        # A publication from before the hash was kept: VK's player by oid and id alone.
        await _forget_hash(world)
        _status, older, _headers = await _page(url)

    older_player = (
        f'src="https://vk.com/video_ext.php?oid={video.owner_id}&amp;id={video.video_id}"'
    )
    assert older_player in older
    assert status == 200
    player = (
        f'src="https://vk.com/video_ext.php?oid={video.owner_id}&amp;id={video.video_id}'
        f'&amp;hash={video.embed_hash}"'
    )
    assert player in page and 'id="video"' not in page
    assert NO_VIDEO[lang] not in page
    policy = headers["Content-Security-Policy"]
    assert "frame-src https://vk.com;" in policy and "youtube" not in policy
    assert f'<html lang="{lang}">' in page


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_a_video_hidden_in_its_community_is_not_embedded(world: World, lang: str) -> None:
    await world.connect_vk()
    await world.set_compose(vk_privacy="only_me")
    url = await _share_link(world, lang)
    async with running(world.settings, world.telegram):
        await world.publish(["vk"])
        await world.links_message()
        (world.folder / files.VIDEO).unlink()
        status, page, headers = await _page(url)

    assert status == 200
    assert "video_ext.php" not in page and NO_VIDEO[lang] in page
    assert "frame-src 'none'" in headers["Content-Security-Policy"]
