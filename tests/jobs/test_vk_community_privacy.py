"""Who may see a VK video published to the connected community: the VK preset reaches VK.

The fake VK keeps what video.save received (``is_private`` checked as a 0/1 flag) and, as VK
does, shows a private video by id only to the community's admins.
"""

from __future__ import annotations

import pytest

from tests.conftest import running
from tests.jobs.conftest import World


@pytest.mark.parametrize("choice", ["only_me", "friends"])
async def test_a_private_choice_uploads_the_community_video_hidden(
    world: World, choice: str
) -> None:
    await world.connect_vk()
    await world.set_compose(vk_privacy=choice)
    async with running(world.settings, world.telegram):
        await world.publish(["vk"])
        links = await world.links_message()

    [video] = world.vk.videos
    assert video.group_id is not None
    # A community takes no viewers list; hidden is what VK offers there.
    assert video.privacy_view is None
    assert video.is_private is True
    assert f"vk.com/video{video.owner_id}_{video.video_id}" in links.content
    assert (await world.publications())["vk"].status.value == "done"


async def test_everyone_leaves_the_community_video_listed(world: World) -> None:
    await world.connect_vk()
    await world.set_compose(vk_privacy="all")
    async with running(world.settings, world.telegram):
        await world.publish(["vk"])
        await world.links_message()

    [video] = world.vk.videos
    assert video.is_private is False and video.privacy_view is None
