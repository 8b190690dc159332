"""yt-dlp behind the guard, against a video site on 127.0.0.1.

Tests that need a public-looking name use a resolver that gives `lectures.example` a public
address and reach the site as their HTTP proxy: the guard sees the public name, the bytes
come from the local site, and a redirect from there to a private address must be refused.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from yt_dlp.utils import DownloadError, ExtractorError, GeoRestrictedError

from integrations import links
from integrations.links import LinkError, LinkLimits, Playlist, Video
from integrations.url_guard import AddressGuard, system_resolver
from tests.fakes.media_site import MediaSite

LIMITS = LinkLimits(max_duration=5 * 3600, max_size=4_000_000_000, max_items=20)
PUBLIC_NAME = "lectures.example"


def _resolver(host: str, port: int) -> list[str]:
    if host == PUBLIC_NAME:
        return ["93.184.215.14"]
    return system_resolver(host, port)


@pytest.fixture
async def site(small_video: Path) -> AsyncIterator[MediaSite]:
    fake = MediaSite({"small.mp4": small_video})
    await fake.start()
    yield fake
    await fake.stop()


def _local() -> AddressGuard:
    return AddressGuard(allow_private=True)


async def _inspect(url: str, guard: AddressGuard, **kwargs: object) -> Video | Playlist:
    return await asyncio.to_thread(links.inspect, url, guard, LIMITS, **kwargs)  # type: ignore[arg-type]


async def _refusal(url: str, guard: AddressGuard, **kwargs: object) -> LinkError:
    with pytest.raises(LinkError) as failed:
        await _inspect(url, guard, **kwargs)
    return failed.value


async def test_a_direct_file_and_a_page_with_a_video(site: MediaSite, small_video: Path) -> None:
    direct = await _inspect(site.url("/media/small.mp4"), _local())
    assert direct == Video(url=site.url("/media/small.mp4"), title="small", size=810800)
    assert small_video.stat().st_size == direct.size

    page = await _inspect(site.url("/watch/small.mp4"), _local())
    assert isinstance(page, Video)
    assert page.title.startswith("Lecture small")
    assert page.url == site.url("/watch/small.mp4")


async def test_a_page_with_several_videos_is_a_playlist(site: MediaSite) -> None:
    course = await _inspect(site.url("/course"), _local())
    assert isinstance(course, Playlist)
    assert course.title == "Signals course"
    assert course.total == 3
    # These videos have no address of their own: the page and their place on it.
    assert [(v.url, v.item) for v in course.videos] == [(site.url("/course"), n) for n in (1, 2, 3)]
    assert course.duration is None


async def test_a_feed_is_a_playlist_with_lengths(site: MediaSite) -> None:
    feed = await _inspect(site.url("/feed.xml"), _local())
    assert isinstance(feed, Playlist)
    assert [v.title for v in feed.videos] == ["Lecture 1", "Lecture 2", "Lecture 3"]
    assert feed.duration == 3600
    assert all(v.item is None for v in feed.videos)


async def test_a_playlist_is_cut_at_the_limit(site: MediaSite) -> None:
    limits = LinkLimits(max_duration=3600, max_size=10**9, max_items=2)
    feed = await asyncio.to_thread(links.inspect, site.url("/feed.xml"), _local(), limits)
    assert isinstance(feed, Playlist)
    assert [v.title for v in feed.videos] == ["Lecture 1", "Lecture 2"]
    assert feed.total == 3


async def test_limits_are_checked_before_the_media_is_requested(site: MediaSite) -> None:
    too_long = await _refusal(site.url("/long"), _local())
    assert too_long.code == "too_long"
    assert too_long.params == {"duration": 43200.0, "limit": 18000.0}

    too_large = await _refusal(site.url("/huge"), _local())
    assert too_large.code == "link_too_large"
    assert too_large.params["size"] == 5_000_000_000

    assert site.requested("/media/small.mp4") == []
    assert [h.method for h in site.requested("/big/huge.mp4")] == ["HEAD"]


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/gone", "link_not_found"),
        ("/private", "link_private"),
        ("/live", "link_live"),
        ("/text", "link_unsupported"),
    ],
)
async def test_failures_get_their_own_codes(site: MediaSite, path: str, code: str) -> None:
    assert (await _refusal(site.url(path), _local())).code == code


async def test_an_unknown_host_is_unreachable() -> None:
    def nowhere(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    failure = await _refusal("https://nowhere.example/v", AddressGuard(resolver=nowhere))
    assert failure.code == "link_unreachable"
    assert failure.transient


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:{port}/media/small.mp4",
        "http://localhost:{port}/media/small.mp4",
        "http://[::ffff:127.0.0.1]:{port}/media/small.mp4",
        "http://10.0.0.1/media/small.mp4",
    ],
)
async def test_a_redirect_to_a_private_address_is_not_followed(
    site: MediaSite, target: str
) -> None:
    hop = target.format(port=site.port)
    guard = AddressGuard(resolver=_resolver)
    failure = await _refusal(f"http://{PUBLIC_NAME}/go?to={hop}", guard, proxy=site.base_url)
    assert failure.code == "link_private_address"
    assert guard.refused
    assert [h.path for h in site.hits] == ["/go"]


async def test_a_redirect_to_a_file_is_not_followed(site: MediaSite) -> None:
    guard = AddressGuard(resolver=_resolver)
    failure = await _refusal(
        f"http://{PUBLIC_NAME}/go?to=file:///etc/passwd", guard, proxy=site.base_url
    )
    assert failure.code == "link_scheme"


async def test_a_public_page_naming_private_media_is_refused(site: MediaSite) -> None:
    media = site.url("/media/small.mp4")
    guard = AddressGuard(resolver=_resolver)
    failure = await _refusal(f"http://{PUBLIC_NAME}/embed?src={media}", guard, proxy=site.base_url)
    assert failure.code == "link_private_address"
    assert site.requested("/media/small.mp4") == []


async def test_a_public_redirect_is_followed(site: MediaSite) -> None:
    guard = AddressGuard(resolver=_resolver)
    found = await _inspect(
        f"http://{PUBLIC_NAME}/go?to=/media/small.mp4", guard, proxy=site.base_url
    )
    assert isinstance(found, Video)
    assert found.url == f"http://{PUBLIC_NAME}/media/small.mp4"
    assert guard.refused == []


async def test_a_download_reports_progress_and_writes_the_source(
    site: MediaSite, small_video: Path, tmp_path: Path
) -> None:
    seen: list[int] = []
    path, video = await asyncio.to_thread(
        links.download,
        site.url("/media/small.mp4?slow=1"),
        tmp_path,
        _local(),
        LIMITS,
        on_progress=seen.append,
    )
    assert path == tmp_path / "source.mp4"
    assert path.read_bytes() == small_video.read_bytes()
    assert video.title == "small"
    assert seen == sorted(seen) and len(seen) > 2 and seen[-1] <= 99


async def test_one_video_of_a_page_is_downloaded(site: MediaSite, tmp_path: Path) -> None:
    path, video = await asyncio.to_thread(
        links.download, site.url("/course"), tmp_path, _local(), LIMITS, item=2
    )
    assert video.title == "Signals course (2)"
    assert path.is_file()
    assert [h.path for h in site.hits if h.method == "GET"][-1] == "/media/small.mp4"


async def test_a_source_that_hides_its_size_is_stopped_at_the_limit(
    site: MediaSite, tmp_path: Path
) -> None:
    limits = LinkLimits(max_duration=3600, max_size=500_000, max_items=20)
    with pytest.raises(LinkError) as failed:
        await asyncio.to_thread(
            links.download, site.url("/big/x.mp4?chunked=1"), tmp_path, _local(), limits
        )
    assert failed.value.code == "link_too_large"
    assert list(tmp_path.iterdir()) == []


async def test_a_download_can_be_cancelled(site: MediaSite, tmp_path: Path) -> None:
    cancelled = threading.Event()
    cancelled.set()
    with pytest.raises(links.Cancelled):
        await asyncio.to_thread(
            links.download,
            site.url("/media/small.mp4"),
            tmp_path,
            _local(),
            LIMITS,
            cancelled=cancelled,
        )


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (DownloadError("ERROR: [youtube] x: Private video. Sign in if you've been granted access"),
         "link_private"),
        (DownloadError("ERROR: [youtube] x: Video unavailable. This video has been removed"),
         "link_unavailable"),
        (DownloadError("ERROR: [youtube] x: This live event will begin in 3 hours."), "link_live"),
        (DownloadError("ERROR: [vk] x: This video is not available in your country"), "link_geo"),
        (DownloadError("ERROR: [generic] Unsupported URL: https://example.com/"),
         "link_unsupported"),
        (DownloadError("ERROR: Requested format is not available"), "link_unsupported"),
        (DownloadError("ERROR: [rutube] x: HTTP Error 503: Service Unavailable"),
         "link_unreachable"),
        (DownloadError("ERROR: [generic] x: This video is DRM protected"), "link_drm"),
        (DownloadError("ERROR: something nobody expected"), "link_failed"),
        (GeoRestrictedError("blocked"), "link_geo"),
        (ExtractorError("Unable to download webpage: timed out"), "link_unreachable"),
    ],
)  # fmt: skip
def test_yt_dlp_errors_are_sorted_into_codes(error: Exception, code: str) -> None:
    assert links.classify(error, AddressGuard()).code == code
