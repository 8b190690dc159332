"""`leap bot` with WEBHOOK_URL: Telegram posts updates to the bot's web server."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import httpx

from tests.conftest import TOKEN, _free_port
from tests.fakes.telegram import FakeTelegram

LEAP = [sys.executable, "-m", "leap.cli"]


def _env(tmp_path: Path, telegram: FakeTelegram, redis_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_"))}
    env.update(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
        STORAGE_DIR=str(tmp_path / "storage"),
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_URL=telegram.base_url,
        REDIS_URL=redis_url,
        **extra,
    )
    return env


async def _stop(proc: asyncio.subprocess.Process) -> None:
    proc.send_signal(signal.SIGTERM)
    _, stderr = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, stderr.decode()[-2000:]


async def test_with_a_webhook_updates_arrive_by_post_and_strangers_are_turned_away(
    tmp_path: Path, telegram: FakeTelegram, clean_redis: str
) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}/telegram/updates"
    env = _env(tmp_path, telegram, clean_redis, WEB_PORT=str(port), WEBHOOK_URL=url)
    proc = await asyncio.create_subprocess_exec(
        *LEAP, "bot", cwd=tmp_path, env=env, stderr=asyncio.subprocess.PIPE
    )
    try:
        await telegram.wait_for(lambda: telegram.webhook is not None, timeout=60)
        assert telegram.webhook is not None and telegram.webhook["url"] == url
        secret = telegram.webhook["secret_token"]
        assert secret and TOKEN not in secret

        user = telegram.user(701, "Ann", language_code="en")
        await telegram.send_text(telegram.private_chat(user), user, "/start")
        reply = await telegram.wait_for_message(701, after=0, timeout=30)
        assert "Hi, Ann" in reply.content
        assert [status for _, status in telegram.webhook_posts] == [200]
        assert not telegram.calls_of("getUpdates")

        # Someone who found the address cannot post updates in Telegram's name.
        forged = {
            "update_id": 1,
            "message": {
                "message_id": 1, "date": 0, "text": "/start",
                "chat": {"id": 702, "type": "private"},
                "from": {"id": 702, "is_bot": False, "first_name": "Eve"},
            },
        }  # fmt: skip
        async with httpx.AsyncClient() as http:
            refused = await http.post(url, json=forged)
            wrong = await http.post(
                url, json=forged, headers={"X-Telegram-Bot-Api-Secret-Token": "guess"}
            )
        assert refused.status_code == wrong.status_code == 401
        await asyncio.sleep(0.5)
        assert not telegram.sent(702)
    finally:
        await _stop(proc)


async def test_polling_clears_a_webhook_left_by_an_earlier_deployment(
    tmp_path: Path, telegram: FakeTelegram, clean_redis: str
) -> None:
    telegram.webhook = {"url": "https://old.example/telegram"}
    env = _env(tmp_path, telegram, clean_redis, WEB_PORT="0")
    proc = await asyncio.create_subprocess_exec(
        *LEAP, "bot", cwd=tmp_path, env=env, stderr=asyncio.subprocess.PIPE
    )
    try:
        user = telegram.user(703, "Ben", language_code="en")
        await telegram.send_text(telegram.private_chat(user), user, "/start")
        reply = await telegram.wait_for_message(703, after=0, timeout=60)
        assert "Hi, Ben" in reply.content
        assert telegram.webhook is None
    finally:
        await _stop(proc)
