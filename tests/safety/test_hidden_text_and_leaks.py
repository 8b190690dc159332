"""Text that hides itself, and secrets that could slip out where nobody writes them on purpose.

Chapter titles made of invisible or reordering characters are refused, and such characters
are taken out of titles that have visible text too; a long title is escaped once. A crash
that nobody catches, the health page, and the access log of export links keep their
secrets as masked as every log line is.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, web
from redis.asyncio import Redis

from bot.web import StatusDeps, create_status_app
from integrations import export
from tests.bot import chat_fixtures
from tests.bot.chat_fixtures import button, reviewable
from tests.conftest import TEST_SECRET_KEY, _free_port
from tests.fakes.telegram import BotMessage, FakeTelegram
from tests.safety.conftest import World, reply_to, seen

lecture_video = chat_fixtures.lecture_video

LEAP = [sys.executable, "-m", "leap.cli"]
RLO, PDI, ZWSP, ZWJ, BOM = "\u202e", "\u2069", "\u200b", "\u200d", "\ufeff"


async def _list_prompt(
    telegram: FakeTelegram, chat: dict[str, Any], user: dict[str, Any], chat_id: int
) -> tuple[BotMessage, BotMessage]:
    card = await telegram.wait_for_message(chat_id, lambda m: "📋" in seen(m), after=0)
    await telegram.press(chat, user, card.message_id, button(card, "🧭"))
    editor = await telegram.wait_for_message(
        chat_id, lambda m: "📋" in str(m.buttons) and "🧭" in seen(m), after=0
    )
    mark = telegram.mark()
    await telegram.press(chat, user, editor.message_id, button(editor, "📋"))
    prompt = await telegram.wait_for_message(chat_id, lambda m: "00:00" in seen(m), after=mark)
    return card, prompt


@pytest.mark.parametrize(
    ("user_id", "lang", "says"),
    [(7501, "en", "the time has no title after it"), (7502, "ru", "после времени нет названия")],
)
async def test_titles_that_show_nothing_are_refused_and_hidden_characters_removed(
    world: World, lecture_video: Path, user_id: int, lang: str, says: str
) -> None:
    telegram, settings = world.telegram, world.settings
    user = telegram.user(user_id, "Ann", language_code=lang)
    chat = telegram.private_chat(user)
    made = await reviewable(settings, telegram, chat, user, lecture_video, language=lang)
    card, prompt = await _list_prompt(telegram, chat, user, user_id)
    topics_before = (made.folder / "topics.json").read_bytes()

    invisible = "\n".join(
        [
            "00:00 Welcome",
            f"00:20 {ZWSP}{ZWJ}{ZWSP}",
            f"00:41 {RLO}{PDI} {BOM}",
        ]
    )
    mark = telegram.mark()
    await telegram.send_text(chat, user, invisible, reply_to=prompt.message_id)
    refusal = await reply_to(telegram, user_id, mark, says)
    shown = seen(refusal)
    assert shown.count(says) == 2, shown
    line = "Line" if lang == "en" else "Строка"
    assert f"{line} 2" in shown and f"{line} 3" in shown, shown
    assert (made.folder / "topics.json").read_bytes() == topics_before

    # Visible text keeps its words and loses what would reorder or hide part of it; a long
    # title with an ampersand is escaped exactly once wherever it is shown.
    long_title = "Fourier & Laplace " + "transforms " * 12
    good = "\n".join(
        [
            "00:00 Welcome",
            f"00:20 Sampling {RLO}gnilpmas{PDI} rates{ZWSP}",
            f"00:41 {long_title}",
        ]
    )
    mark = telegram.mark()
    await telegram.send_text(chat, user, good, reply_to=prompt.message_id)
    await reply_to(telegram, user_id, mark, "✅")
    saved = json.loads((made.folder / "topics.json").read_text(encoding="utf-8"))
    titles = [t["title"] for t in saved["topics"]]
    assert titles[1] == "Sampling gnilpmas rates"
    assert not any(ch in "".join(titles) for ch in (RLO, PDI, ZWSP, BOM))
    assert titles[2] == long_title.strip()

    await telegram.wait_for(lambda: "Fourier" in (card.content or ""))
    for message in (card, *telegram.sent(user_id)):
        for text in message.texts:
            assert "&amp;amp;" not in (text or ""), text
    assert "Fourier & Laplace" in seen(card)


def test_a_crash_nobody_catches_prints_no_token(tmp_path: Path) -> None:
    token = "123456789:AAHsecretPartOfTheBotTokenThatMustNotLeak"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_"))}
    env.update(
        TELEGRAM_BOT_TOKEN=token,
        TELEGRAM_API_URL="http://[bad",
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'leap.db'}",
        STORAGE_DIR=str(tmp_path / "storage"),
        WEB_PORT=str(_free_port()),
    )
    # A Bot API address that cannot work: one line, and no token in it.
    proc = subprocess.run(
        [*LEAP, "bot"], env=env, cwd=tmp_path, capture_output=True, timeout=60, check=False
    )
    output = (proc.stdout + proc.stderr).decode()
    assert proc.returncode == 2, output[-2000:]
    assert "AAHsecretPartOfTheBotToken" not in output, output[-2000:]

    # Whatever else escapes every handler: Python prints the traceback itself, masked too,
    # also from a thread.
    crash = (
        "import threading\n"
        "from leap.logs import configure\n"
        "from leap.settings import get_settings\n"
        "configure(get_settings())\n"
        "url = 'http://[bad/bot' + get_settings().bot_token + '/getMe'\n"
        "def fail(): raise ValueError(url)\n"
        "thread = threading.Thread(target=fail); thread.start(); thread.join()\n"
        "raise RuntimeError(url)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", crash], env=env, cwd=tmp_path, capture_output=True, timeout=60,
        check=False,
    )  # fmt: skip
    output = (proc.stdout + proc.stderr).decode()
    assert proc.returncode != 0
    assert output.count("Traceback") == 2 and "RuntimeError" in output, output[-2000:]
    assert "AAHsecretPartOfTheBotToken" not in output, output[-2000:]


async def test_the_health_page_names_no_host_user_or_password() -> None:
    broken = Redis.from_url(
        "redis://operator:hunter2-secret@127.0.0.1:1/0", socket_connect_timeout=1
    )
    runner = web.AppRunner(create_status_app(StatusDeps(sessions=None, redis=broken)))
    await runner.setup()
    port = _free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        async with ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                status, body = response.status, await response.text()
    finally:
        await runner.cleanup()
        await broken.aclose()
    assert status == 503
    assert json.loads(body) == {"ok": False, "redis": "unreachable"}
    assert "hunter2" not in body and "127.0.0.1" not in body and "Error" not in body


async def test_export_links_leave_no_signature_in_the_access_log_however_written(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    key = export.link_key(TEST_SECRET_KEY)
    token = export.sign(key, 1, 1, 4_000_000_000)
    signature = token.rsplit(".", 1)[1]
    # The same ids in Arabic-Indic and in fullwidth digits, then percent-encoded as a
    # browser sends them.
    spellings = [
        token,
        token.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")),
        token.translate(str.maketrans("0123456789", "０１２３４５６７８９")),
    ]
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    async with ClientSession() as http:
        for spelling in spellings[1:]:
            path = "/export/" + urllib.parse.quote(spelling)
            url = f"http://127.0.0.1:{world.settings.web_port}{path}"
            async with http.get(url) as response:
                assert response.status == 410
                await response.read()
    await asyncio.sleep(0.2)
    logged = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert len(logged) >= 2, logged
    assert not [line for line in logged if signature in line], logged
    assert all("/export/***" in line for line in logged), logged
