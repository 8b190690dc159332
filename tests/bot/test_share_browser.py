"""The share page in a real browser: Debian's chromium, headless, driven by selenium.

The bot runs with its web server; the link comes from the card's button; the browser, at a
phone's width, clicks a chapter and reads where the player went, searches the transcript and
clicks a line, and leaves a screenshot in the test's folder that must not be blank.
Skipped only when chromium or its driver is not installed (scripts/setup.sh installs them).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from leap.settings import Settings
from tests.bot import chat_fixtures
from tests.bot.chat_fixtures import button, reviewable, seen
from tests.conftest import RunningBot, running
from tests.fakes.telegram import FakeTelegram

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None, reason="chromium and chromium-driver are not installed"
)

lecture_video = chat_fixtures.lecture_video
PHONE = (390, 844)
DESKTOP = (1280, 800)
SAYS = {
    "en": {"card": "Ready for review", "share": "Share page", "found": "Lines found: 1"},
    "ru": {"card": "Готово к проверке", "share": "Страница по ссылке", "found": "Найдено строк: 1"},
}


@pytest.fixture
async def site(settings: Settings, telegram: FakeTelegram) -> AsyncIterator[RunningBot]:
    public = settings.model_copy(
        update={"public_base_url": f"http://127.0.0.1:{settings.web_port}"}
    )
    async with running(public, telegram) as bot:
        yield bot


def _browser() -> Any:
    options = Options()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--mute-audio",
        "--autoplay-policy=no-user-gesture-required",
        f"--window-size={PHONE[0]},{PHONE[1]}",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(DRIVER)))
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": PHONE[0], "height": PHONE[1], "deviceScaleFactor": 1, "mobile": True},
    )
    return driver


def _until(check: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
    import time

    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.05)


def _gray_pixels(png: Path) -> np.ndarray:
    """The screenshot as 8-bit gray, decoded by ffmpeg (no imaging library needed)."""
    size = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         "stream=width,height", "-of", "csv=p=0", str(png)],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    width, height = (int(n) for n in size.split(","))
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(png), "-f", "rawvideo", "-pix_fmt", "gray", "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    return np.frombuffer(raw, dtype=np.uint8).reshape(height, width)


def _drive(url: str, shot: Path, found: str) -> dict[str, Any]:
    driver = _browser()
    try:
        driver.get(url)
        video = driver.find_element(By.ID, "video")
        now = lambda: driver.execute_script("return arguments[0].currentTime", video)  # noqa: E731
        _until(
            lambda: driver.execute_script("return arguments[0].readyState >= 1", video),
            "the video's metadata loaded",
        )
        seen: dict[str, Any] = {
            "duration": driver.execute_script("return arguments[0].duration", video),
            "cues": _until(
                lambda: driver.execute_script(
                    "var t = arguments[0].textTracks[0]; return t && t.cues && t.cues.length",
                    video,
                ),
                "the subtitles loaded",
            ),
        }

        chapter = driver.find_element(By.CSS_SELECTOR, '.chapters button[data-t="41.00"]')
        assert "Aliasing" in chapter.text
        chapter.click()
        seen["chapter_time"] = _until(lambda: (t := now()) >= 40.9 and t, "seek to the chapter")
        seen["chapter_current"] = "current" in (chapter.get_attribute("class") or "")

        box = driver.find_element(By.ID, "q")
        box.send_keys("ALIAS")
        lines = driver.find_elements(By.CSS_SELECTOR, "#lines li")
        shown = [li for li in lines if li.is_displayed()]
        seen["lines"], seen["shown"] = len(lines), [li.text for li in shown]
        seen["found"] = driver.find_element(By.ID, "found").text
        seen["marks"] = [m.text for m in driver.find_elements(By.CSS_SELECTOR, "#lines mark")]
        driver.find_element(By.CSS_SELECTOR, '#lines button[data-t="42.00"]').click()
        seen["line_time"] = _until(lambda: (t := now()) >= 41.9 and t, "seek to the line")
        box.clear()
        box.send_keys(" ")  # emptied: every line comes back
        seen["back"] = len([li for li in lines if li.is_displayed()])

        seen["scroll_width"] = driver.execute_script("return document.documentElement.scrollWidth")
        driver.execute_script("window.scrollTo(0, 0)")
        driver.save_screenshot(str(shot))
        # On a desktop the chapters stand beside the player.
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": DESKTOP[0], "height": DESKTOP[1], "deviceScaleFactor": 1, "mobile": False},
        )
        player = driver.find_element(By.CSS_SELECTOR, ".player").rect
        chapters = driver.find_element(By.CSS_SELECTOR, ".chapters").rect
        seen["beside"] = (
            chapters["x"] >= player["x"] + player["width"] and abs(chapters["y"] - player["y"]) < 40
        )
        driver.save_screenshot(str(shot.with_name(shot.stem + "-desktop.png")))
        seen["errors"] = [
            entry for entry in driver.get_log("browser") if entry.get("level") == "SEVERE"
        ]
        assert found  # the caller checks seen["found"] against it
        return seen
    finally:
        driver.quit()


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_a_chapter_click_seeks_the_player_and_the_page_fits_a_phone(
    site: RunningBot, telegram: FakeTelegram, lecture_video: Path, tmp_path: Path, lang: str
) -> None:
    says = SAYS[lang]
    base = 4201 if lang == "en" else 4211
    user = telegram.user(base, "Ann", language_code=lang)
    chat = telegram.private_chat(user)
    await reviewable(site.settings, telegram, chat, user, lecture_video, language=lang)
    card = await telegram.wait_for_message(base, lambda m: says["card"] in seen(m), after=0)
    mark = telegram.mark()
    await telegram.press(chat, user, card.message_id, button(card, says["share"]))
    reply = await telegram.wait_for_message(base, lambda m: "/share/" in seen(m), after=mark)
    [url] = re.findall(r"http://\S+/share/\S+", seen(reply))

    shot = tmp_path / f"share-{lang}-390.png"
    result = await asyncio.to_thread(_drive, url, shot, says["found"])

    assert abs(result["duration"] - chat_fixtures.VIDEO_SECONDS) < 1.0
    assert result["cues"] >= 1
    assert 41.0 - 0.1 <= result["chapter_time"] < 41.0 + 1.5
    assert result["chapter_current"]
    assert result["lines"] == len(chat_fixtures.TOPICS)
    assert result["shown"] == ["0:42Now aliasing."] or [
        re.sub(r"\s+", " ", t) for t in result["shown"]
    ] == ["0:42 Now aliasing."]
    assert result["found"] == says["found"]
    assert [m.lower() for m in result["marks"]] == ["alias"]
    assert 42.0 - 0.1 <= result["line_time"] < 42.0 + 1.5
    assert result["back"] == len(chat_fixtures.TOPICS)
    assert result["scroll_width"] <= PHONE[0]
    assert result["beside"]
    assert result["errors"] == [], result["errors"]

    pixels = _gray_pixels(shot)
    assert pixels.shape[1] == PHONE[0]
    # Not blank: the dark player, the light page and text between them.
    assert pixels.std() > 20 and len(np.unique(pixels)) > 16
    assert (pixels < 60).mean() > 0.05 and (pixels > 200).mean() > 0.3
