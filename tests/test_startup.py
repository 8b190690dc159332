"""Starting the bot with settings that cannot work: one line that says what to fix.

The operator sees neither a traceback nor the token, and the process exits 2 at once.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import TOKEN, _free_port
from tests.fakes.telegram import FakeTelegram

LEAP = [sys.executable, "-m", "leap.cli"]
WRONG = "987654321:AAWrongTokenThatTheServerDoesNotKnowAtAll"


@pytest.fixture
async def bot_api(tmp_path: Path) -> AsyncIterator[FakeTelegram]:
    telegram = FakeTelegram(TOKEN, files_dir=tmp_path / "files")
    await telegram.start()
    yield telegram
    await telegram.stop()


async def _leap(tmp_path: Path, command: str, redis_url: str, **env: str) -> tuple[int, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_"))}
    environ.update(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'leap.db'}",
        STORAGE_DIR=str(tmp_path / "storage"),
        REDIS_URL=redis_url,
        WEB_PORT=str(_free_port()),
        **env,
    )
    proc = await asyncio.create_subprocess_exec(
        *LEAP, command, cwd=tmp_path, env=environ,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, (out + err).decode()


@pytest.mark.parametrize("command", ["bot", "run"])
async def test_a_wrong_token_is_one_line_and_no_traceback(
    tmp_path: Path, bot_api: FakeTelegram, redis_url: str, command: str
) -> None:
    code, output = await _leap(
        tmp_path, command, redis_url, TELEGRAM_BOT_TOKEN=WRONG, TELEGRAM_API_URL=bot_api.base_url
    )
    assert code == 2, output
    assert output.strip().splitlines() == [
        f"leap: the Bot API at {bot_api.base_url} refused TELEGRAM_BOT_TOKEN (Unauthorized): "
        "check the token @BotFather gave you"
    ]
    assert "AAWrongToken" not in output


async def test_an_unreachable_bot_api_is_one_line(tmp_path: Path, redis_url: str) -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    code, output = await _leap(
        tmp_path, "bot", redis_url, TELEGRAM_BOT_TOKEN=WRONG, TELEGRAM_API_URL=url
    )
    assert code == 2, output
    assert output.strip().splitlines() == [
        f"leap: cannot reach the Bot API at {url}: check TELEGRAM_API_URL and the network"
    ]


async def test_doctor_asks_the_bot_api_who_the_bot_is(
    tmp_path: Path, bot_api: FakeTelegram, redis_url: str
) -> None:
    code, output = await _leap(
        tmp_path, "doctor", redis_url, TELEGRAM_BOT_TOKEN=WRONG, TELEGRAM_API_URL=bot_api.base_url
    )
    assert code == 1
    [line] = [ln for ln in output.splitlines() if "telegram" in ln]
    assert line.startswith("[FAIL] telegram") and "refused TELEGRAM_BOT_TOKEN" in line, line
    assert "AAWrongToken" not in output

    code, output = await _leap(
        tmp_path, "doctor", redis_url, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=bot_api.base_url
    )
    [line] = [ln for ln in output.splitlines() if "telegram" in ln]
    assert line.startswith("[  ok] telegram") and f"via {bot_api.base_url}" in line, line

    url = f"http://127.0.0.1:{_free_port()}"
    code, output = await _leap(
        tmp_path, "doctor", redis_url, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=url
    )
    [line] = [ln for ln in output.splitlines() if "telegram" in ln]
    assert line.startswith("[FAIL] telegram") and "cannot reach the Bot API" in line, line
