"""What a link may make yt-dlp read: pages within a budget, media as large as the limits allow.

Against the video site on 127.0.0.1, as the fetch stage and the look at a link call yt-dlp.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from integrations import link_probe, links
from integrations.links import PAGE_MAX_BYTES, LinkError, LinkLimits, Playlist, Video
from integrations.url_guard import AddressGuard
from tests.fakes.media_site import VAST_SIZE, MediaSite

LIMITS = LinkLimits(max_duration=5 * 3600, max_size=4_000_000_000, max_items=20)


@pytest.fixture
async def site(small_video: Path) -> AsyncIterator[MediaSite]:
    fake = MediaSite({"small.mp4": small_video})
    await fake.start()
    yield fake
    await fake.stop()


def _local() -> AddressGuard:
    return AddressGuard(allow_private=True)


@pytest.mark.parametrize("path", ["/vast", "/vast?gzip=1"])
async def test_a_vast_page_is_refused_by_the_look_and_by_the_download(
    site: MediaSite, tmp_path: Path, path: str
) -> None:
    with pytest.raises(LinkError) as looked:
        await asyncio.to_thread(links.inspect, site.url(path), _local(), LIMITS)
    with pytest.raises(LinkError) as fetched:
        await asyncio.to_thread(links.download, site.url(path), tmp_path, _local(), LIMITS)
    for failed in (looked.value, fetched.value):
        assert failed.code == "link_page_too_large"
        assert failed.params == {"limit": PAGE_MAX_BYTES // 1_000_000}
    # Each stopped reading soon after the budget, far from the end of the page.
    assert site.vast_sent < 2 * (PAGE_MAX_BYTES + 8 * 1024 * 1024) < VAST_SIZE
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw-deflate"])
async def test_compressed_pages_are_read_as_before(site: MediaSite, encoding: str) -> None:
    page = await asyncio.to_thread(
        links.inspect, site.url(f"/watch/small.mp4?encoding={encoding}"), _local(), LIMITS
    )
    assert isinstance(page, Video)
    assert page.title.startswith("Lecture small")
    assert page.size == 810800


async def test_media_larger_than_a_page_still_downloads(site: MediaSite, tmp_path: Path) -> None:
    # 13 MB of media with no length given: past the page budget, within the size limit.
    path, _video = await asyncio.to_thread(
        links.download, site.url("/big/x.mp4?chunked=1"), tmp_path, _local(), LIMITS
    )
    assert path.stat().st_size == 200 * 65536 > PAGE_MAX_BYTES


async def test_a_look_in_its_own_process_finds_videos_and_playlists(site: MediaSite) -> None:
    async def look(path: str) -> Video | Playlist:
        return await link_probe.inspect(
            site.url(path), LIMITS, allow_private=True, proxy=None, seconds=30
        )

    assert await look("/media/small.mp4") == Video(
        url=site.url("/media/small.mp4"), title="small", size=810800
    )
    feed = await look("/feed.xml")
    assert isinstance(feed, Playlist)
    assert [v.title for v in feed.videos] == ["Lecture 1", "Lecture 2", "Lecture 3"]
    assert feed.duration == 3600.0
    with pytest.raises(LinkError) as failed:
        await look("/long")
    assert failed.value.code == "too_long"
    assert failed.value.params == {"duration": 12 * 3600.0, "limit": 5 * 3600.0}


async def test_a_look_in_its_own_process_still_refuses_private_addresses(
    site: MediaSite,
) -> None:
    with pytest.raises(LinkError) as failed:
        await link_probe.inspect(
            site.url("/media/small.mp4"), LIMITS, allow_private=False, proxy=None, seconds=30
        )
    assert failed.value.code == "link_private_address"
    assert site.hits == []


async def test_a_look_that_outlives_its_deadline_is_ended(site: MediaSite) -> None:
    with pytest.raises(LinkError) as failed:
        await link_probe.inspect(
            site.url("/drip?every=1"), LIMITS, allow_private=True, proxy=None, seconds=3
        )
    assert failed.value.code == "link_timeout"
    assert failed.value.params == {"seconds": 3}
    for _ in range(50):
        if site.drips_open == 0:
            break
        await asyncio.sleep(0.1)
    assert site.drips_open == 0 and site.drips_closed == 1
