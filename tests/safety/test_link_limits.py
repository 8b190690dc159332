"""Links whose pages would cost the bot its memory or its threads, sent in the chat.

A page of hundreds of MB (plain or as a small gzip bomb) is refused for its size and the
process running the bot barely grows; a page that sends a byte every few seconds is refused
for taking too long once the deadline passes, and then nothing of that look is left: no
process, no thread, no connection to the site. Looks beyond the bot's slots wait their turn.
A page that turns huge between the look and the download fails the download the same way,
and a download that drips lets go of the site the moment it is cancelled. Good links and
playlists go through as before.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from urllib.parse import quote

import pytest

from jobs.link_intake import INSPECT_SLOTS
from tests.bot.chat_fixtures import button
from tests.fakes.media_site import VAST_SIZE, MediaSite
from tests.safety.conftest import (
    Inputs,
    World,
    at_rest,
    leftovers,
    recordings_of,
    reply_to,
    seen,
    world_at,
)

DEADLINE = 12
MB = 1024 * 1024
TOO_LARGE = {
    "en": "The page at this link is larger than 10 MB",
    "ru": "Страница по этой ссылке больше 10 МБ",
}
TOO_SLOW = {
    "en": f"The site took longer than {DEADLINE} seconds to show what is at this link",
    "ru": f"Сайт не успел за {DEADLINE} с показать, что по этой ссылке",
}
RECEIVED = {"en": "Received: ", "ru": "Получено: "}
PROBE = "integrations.link_probe"


@pytest.fixture(scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> AsyncIterator[World]:
    """The bot with a short deadline for looking at links, allowed to reach 127.0.0.1."""
    root = tmp_path_factory.mktemp("link-limits")
    async with world_at(
        root, redis_url, allow_private_urls=True, link_check_seconds=float(DEADLINE)
    ) as found:
        yield found


@pytest.fixture(scope="module")
async def site(inputs: Inputs) -> AsyncIterator[MediaSite]:
    fake = MediaSite({"lecture.mp4": inputs.lecture})
    await fake.start()
    yield fake
    await fake.stop()


# --- what runs on this machine ----------------------------------------------------------------


def _status(pid: int | str, field: str) -> int:
    """A number from /proc/<pid>/status (kB for memory); 0 once the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _probes() -> list[int]:
    """The live processes under this one that are looking at a link."""
    parents: dict[int, int] = {}
    commands: dict[int, bytes] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                commands[int(entry)] = cmdline.read()
        except (OSError, IndexError):
            continue
        if fields[0] != b"Z":
            parents[int(entry)] = int(fields[1])
    me = os.getpid()

    def under_me(pid: int) -> bool:
        seen_pids: set[int] = set()
        while pid in parents and pid not in seen_pids:
            seen_pids.add(pid)
            pid = parents[pid]
            if pid == me:
                return True
        return False

    return [pid for pid in parents if under_me(pid) and PROBE.encode() in commands.get(pid, b"")]


def _inspecting_threads() -> list[str]:
    """Threads of this process that are somewhere inside yt-dlp or our link code."""
    busy = []
    for ident, frame in sys._current_frames().items():
        current = frame
        while current is not None:
            name = current.f_code.co_filename
            if (
                f"{os.sep}yt_dlp{os.sep}" in name
                or os.path.join("integrations", "links", "") in name
            ):
                busy.append(str(ident))
                break
            current = current.f_back
    return busy


class Watch:
    """Samples, until stopped, this process's memory and the link looks running under it."""

    def __init__(self) -> None:
        self.start_kb = _status("self", "VmRSS")
        self.peak_kb = self.start_kb
        self.probe_peak_kb = 0
        self.probes_seen: set[int] = set()
        self.most_at_once = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="test-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak_kb = max(self.peak_kb, _status("self", "VmRSS"))
            probes = _probes()
            self.most_at_once = max(self.most_at_once, len(probes))
            self.probes_seen.update(probes)
            for pid in probes:
                self.probe_peak_kb = max(self.probe_peak_kb, _status(pid, "VmHWM"))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth_mb(self) -> float:
        return (self.peak_kb - self.start_kb) / 1024


async def _until(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


# --- the tests --------------------------------------------------------------------------------


@pytest.mark.parametrize(("lang", "path"), [("ru", "/vast"), ("en", "/vast?gzip=1")])
async def test_a_vast_page_is_refused_for_its_size_and_the_bot_does_not_grow(
    world: World, site: MediaSite, lang: str, path: str
) -> None:
    telegram, settings = world.telegram, world.settings
    chat_id = 7701 if lang == "ru" else 7702
    user = telegram.user(chat_id, "Ада", language_code=lang)
    sent_before = site.vast_sent
    mark = telegram.mark()
    watch = Watch()
    try:
        await telegram.send_text(telegram.private_chat(user), user, site.url(path))
        reply = await reply_to(telegram, chat_id, mark, "❌", timeout=DEADLINE + 30)
    finally:
        watch.stop()

    assert TOO_LARGE[lang] in seen(reply), seen(reply)
    assert TOO_SLOW[lang] not in seen(reply)
    # The process running the bot stayed within 100 MB of where it was; the look itself
    # ran in a process of its own that stayed small too.
    assert watch.growth_mb < 100, watch.growth_mb
    assert watch.probes_seen, "the look did not run in a process of its own"
    assert watch.probe_peak_kb < 400 * 1024, watch.probe_peak_kb
    # Reading stopped long before the end of the page.
    assert site.vast_sent - sent_before < VAST_SIZE // 4
    assert await recordings_of(settings, chat_id) == []


@pytest.mark.parametrize("lang", ["ru", "en"])
async def test_a_dripping_page_is_stopped_at_the_deadline_and_nothing_of_it_is_left(
    world: World, site: MediaSite, lang: str
) -> None:
    telegram, settings = world.telegram, world.settings
    chat_id = 7703 if lang == "ru" else 7704
    user = telegram.user(chat_id, "Борис", language_code=lang)
    closed_before = site.drips_closed
    mark = telegram.mark()
    started = time.monotonic()
    await telegram.send_text(telegram.private_chat(user), user, site.url("/drip"))
    reply = await reply_to(telegram, chat_id, mark, "❌", timeout=DEADLINE + 30)
    took = time.monotonic() - started

    assert TOO_SLOW[lang] in seen(reply), seen(reply)
    assert TOO_LARGE[lang] not in seen(reply)
    assert DEADLINE - 1 < took < DEADLINE + 10, took
    # Nothing of the look goes on: no process, no thread, no connection to the site.
    assert await _until(lambda: _probes() == []), _probes()
    assert await _until(lambda: _inspecting_threads() == []), _inspecting_threads()
    assert await _until(lambda: site.drips_open == 0 and site.drips_closed > closed_before)
    assert await recordings_of(settings, chat_id) == []


async def test_looks_beyond_the_slots_wait_their_turn_and_each_gets_its_answer(
    world: World, site: MediaSite
) -> None:
    telegram = world.telegram
    people = [telegram.user(7710 + n, f"Guest {n}", language_code="en") for n in range(4)]
    mark = telegram.mark()
    watch = Watch()
    try:
        await asyncio.gather(
            *(
                telegram.send_text(telegram.private_chat(u), u, site.url("/drip?every=1"))
                for u in people
            )
        )
        replies = [
            await reply_to(telegram, u["id"], mark, "❌", timeout=3 * DEADLINE + 30) for u in people
        ]
    finally:
        watch.stop()

    assert all(TOO_SLOW["en"] in seen(r) for r in replies), [seen(r) for r in replies]
    assert len(watch.probes_seen) == len(people)
    assert 1 <= watch.most_at_once <= INSPECT_SLOTS, watch.most_at_once
    assert await _until(lambda: _probes() == [] and site.drips_open == 0)


async def test_a_page_that_turns_vast_before_the_download_fails_it_without_the_bot_growing(
    world: World, site: MediaSite
) -> None:
    telegram, settings = world.telegram, world.settings
    user = telegram.user(7720, "Carl", language_code="en")
    mark = telegram.mark()
    watch = Watch()
    try:
        # Looked at, the page shows a lecture; fetched, it is hundreds of MB of text.
        await telegram.send_text(telegram.private_chat(user), user, site.url("/turns/lecture.mp4"))
        reply = await reply_to(telegram, 7720, mark, "❌", timeout=60)
    finally:
        watch.stop()

    assert TOO_LARGE["en"] in seen(reply), seen(reply)
    assert watch.growth_mb < 100, watch.growth_mb
    [recording] = await at_rest(settings, 7720)
    assert recording.failure_code == "link_page_too_large"
    assert leftovers(settings) == []


async def test_a_download_that_drips_ends_with_its_connection_when_it_is_cancelled(
    world: World, site: MediaSite
) -> None:
    telegram, settings = world.telegram, world.settings
    user = telegram.user(7725, "Dora", language_code="en")
    chat = telegram.private_chat(user)
    closed_before = site.drips_open, site.drips_closed
    # A page whose video, once downloaded, comes a byte a second.
    await telegram.send_text(chat, user, site.url("/embed?src=" + quote("/drip?every=1")))
    assert await _until(lambda: site.drips_open == 1, timeout=30)

    mark = telegram.mark()
    await telegram.send_text(chat, user, "/recordings")
    listing = await reply_to(telegram, 7725, mark, "Recordings")
    await telegram.press(chat, user, listing.message_id, button(listing, "embedded lecture"))
    await telegram.wait_for(lambda: "Cancel" in str(listing.buttons))
    await telegram.press(chat, user, listing.message_id, button(listing, "Cancel"))
    await telegram.wait_for(lambda: "Cancelled" in seen(listing), timeout=20)

    # The stage's thread let go of the site at once and is not left reading.
    assert await _until(lambda: site.drips_open == 0, timeout=3)
    assert site.drips_closed == closed_before[1] + 1
    assert await _until(lambda: _inspecting_threads() == [], timeout=3), _inspecting_threads()
    [recording] = await at_rest(settings, 7725)
    assert recording.failure_code == "cancelled"
    assert await _until(lambda: leftovers(settings) == [], timeout=3), leftovers(settings)


@pytest.mark.parametrize("lang", ["ru", "en"])
async def test_a_good_link_and_a_playlist_still_go_through(
    world: World, site: MediaSite, lang: str
) -> None:
    telegram, settings = world.telegram, world.settings
    chat_id = 7730 if lang == "ru" else 7731
    user = telegram.user(chat_id, "Дина", language_code=lang)
    chat = telegram.private_chat(user)
    mark = telegram.mark()
    await telegram.send_text(chat, user, site.url("/watch/lecture.mp4"))
    received = await reply_to(telegram, chat_id, mark, RECEIVED[lang], timeout=60)
    assert "Lecture lecture" in seen(received)

    mark = telegram.mark()
    await telegram.send_text(chat, user, site.url("/feed.xml"))
    question = {"en": "Process them?", "ru": "Обработать их?"}[lang]
    offer = await reply_to(telegram, chat_id, mark, question, timeout=DEADLINE + 30)
    assert "Signals podcast" in seen(offer)
    await at_rest(settings, chat_id, timeout=120)
