"""How fast the bot answers commands under 100 updates a second, idle and with busy workers.

Run from the repository root::

    .venv/bin/python -m bench.bot [--rate 100] [--seconds 10] [--users 200] [--lectures 20]

The bot runs as `leap run` does (aiogram polling, the web server, and for the second run
the media and io workers in the same process) against the fake Bot API of the tests, with
a SQLite database and a real Redis (REDIS_URL when it answers, otherwise a private
redis-server). People send /help and /start in turn, `--rate` commands a second spread over
`--users` private chats, for `--seconds`. An answer's latency is from the moment its update
is handed to the Bot API server to the moment the bot's reply arrives there.

Runs:
- the bot alone (`leap bot`);
- `leap bot` while a `leap worker` process (the docker-compose layout) processes
  `--lectures` recordings sent just before (speech through the fake OpenAI-compatible
  server, so the CPU work is trimming, probing and thumbnails);
- `leap run`, the same recordings processed by workers inside the bot's own process.

Prints p50 / p99 / max per command, and how many answers were missing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.queue import _machine, percentile, redis_server
from leap.app import serve
from leap.settings import Settings
from storage import db
from storage.crypto import generate_key
from tests.fakes.openai import FakeOpenAI, Phrase, Upload
from tests.fakes.telegram import FakeTelegram

TOKEN = "123456:BENCH-token-for-the-fake-server"
COMMANDS = ("/help", "/start")


def lecture(folder: Path) -> Path:
    path = folder / "lecture.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-y",
         "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=20",
         "-f", "lavfi", "-i", "sine=f=300:d=20",
         "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest",
         "-movflags", "+faststart", str(path)],
        check=True,
    )  # fmt: skip
    return path


def speech(upload: Upload) -> list[Phrase]:
    return [Phrase(0.5, 2.0, "Good morning everyone.")] if upload.duration > 2.5 else []


def worker_process(settings: Settings, folder: Path) -> subprocess.Popen[bytes]:
    """`leap worker` configured like `settings`, as its own process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_"))}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        env[name.upper()] = json.dumps(value) if isinstance(value, dict | list) else str(value)
    log = (folder / "worker.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "leap.cli", "worker"], cwd=folder, env=env, stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip


async def run(
    args: argparse.Namespace, url: str, folder: Path, *, mode: str
) -> dict[str, list[float]]:
    """One run; `mode` is "alone", "worker process" or "in process"."""
    busy = mode != "alone"
    telegram = FakeTelegram(TOKEN, files_dir=folder / "bot-api")
    await telegram.start()
    openai = FakeOpenAI()
    openai.transcriber = speech
    await openai.start()
    database = await _database(args.database, folder)
    await asyncio.to_thread(db.upgrade, database)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        telegram_bot_token=TOKEN,
        telegram_api_url=telegram.base_url,
        database_url=database,
        redis_url=url,
        storage_dir=folder / "storage",
        web_port=0,
        secret_key=generate_key(),
        transcribe_engine="openai",
        transcribe_base_url=openai.base_url,
        transcribe_api_key=openai.api_key,
        migrate_on_start=False,
    )
    stop, ready = asyncio.Event(), asyncio.Event()
    queues = ("media", "io") if mode == "in process" else ()
    app = asyncio.create_task(serve(settings, queues=queues, stop=stop, ready=ready))
    await asyncio.wait_for(ready.wait(), 60)
    worker = worker_process(settings, folder) if mode == "worker process" else None
    try:
        if busy:
            video = await asyncio.to_thread(lecture, folder)
            for n in range(args.lectures):
                user = telegram.user(900_000 + n, f"Lecturer {n}", language_code="en")
                await telegram.send_document(
                    telegram.private_chat(user), user, video, file_name=f"l{n}.mp4",
                    mime_type="video/mp4",
                )  # fmt: skip
            await _until_busy(telegram, args.lectures)
        return await _load(telegram, args)
    finally:
        if worker is not None:
            worker.terminate()
            await asyncio.to_thread(worker.wait, 60)
        stop.set()
        await asyncio.wait_for(app, 60)
        await openai.stop()
        await telegram.stop()


async def _load(telegram: FakeTelegram, args: argparse.Namespace) -> dict[str, list[float]]:
    users = [telegram.user(1000 + n, f"Person {n}", language_code="en") for n in range(args.users)]
    chats = [telegram.private_chat(u) for u in users]
    sent: dict[int, list[tuple[str, float]]] = defaultdict(list)
    total = int(args.rate * args.seconds)
    start = time.monotonic()
    order = itertools.cycle(range(args.users))
    for n in range(total):
        due = start + n / args.rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        index = next(order)
        command = COMMANDS[(n // args.users) % len(COMMANDS)]
        sent[chats[index]["id"]].append((command, time.monotonic()))
        await telegram.send_text(chats[index], users[index], command)
    # Give the last answers time to arrive.
    for _ in range(300):
        if _answered(telegram, sent) >= total:
            break
        await asyncio.sleep(0.1)
    latencies: dict[str, list[float]] = defaultdict(list)
    for chat_id, commands in sent.items():
        answers = [m.sent_at for m in telegram.sent(chat_id)]
        for (command, at), answered in zip(commands, answers, strict=False):
            latencies[command].append(answered - at)
        latencies["missing"].extend([0.0] * max(len(commands) - len(answers), 0))
    return latencies


async def _database(server: str | None, folder: Path) -> str:
    """SQLite in `folder`, or a new database on the PostgreSQL server `server`."""
    if not server:
        return f"sqlite+aiosqlite:///{folder / 'leap.db'}"
    import asyncpg

    name = f"bench_{folder.name.replace('-', '_')}_{int(time.time())}"
    conn = await asyncpg.connect(server.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return server.rsplit("/", 1)[0] + f"/{name}"


async def _until_busy(telegram: FakeTelegram, lectures: int) -> None:
    """Until the workers are trimming: a progress message says so."""
    for _ in range(1200):
        edits = [c for c in telegram.calls_of("editMessageText") if "Trim" in str(c.params)]
        if edits:
            return
        await asyncio.sleep(0.05)
    raise RuntimeError("the workers never started")


def _answered(telegram: FakeTelegram, sent: dict[int, list[Any]]) -> int:
    return sum(min(len(telegram.sent(c)), len(v)) for c, v in sent.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--lectures", type=int, default=20)
    parser.add_argument(
        "--database",
        help="a PostgreSQL server URL (postgresql+asyncpg://user@host:port/db) to use "
        "instead of SQLite; each run gets a new database there",
    )
    args = parser.parse_args()
    rows = []
    with redis_server() as url, tempfile.TemporaryDirectory(prefix="bench-bot-") as tmp:
        runs = {
            "alone": "leap bot alone",
            "worker process": "leap bot + busy leap worker process",
            "in process": "leap run, its workers busy",
        }
        for mode, label in runs.items():
            folder = Path(tmp) / mode.replace(" ", "-")
            folder.mkdir()
            with contextlib.suppress(Exception):
                from redis import Redis

                Redis.from_url(url).flushdb()
            rows.append((label, asyncio.run(run(args, url, folder, mode=mode))))
    print(f"bot answer benchmark, {datetime.date.today()}, {_machine()}")
    print(
        f"{args.rate:g} commands/s for {args.seconds:g} s from {args.users} chats; "
        f"busy runs: {args.lectures} recordings of 20 s processing; "
        f"database: {'PostgreSQL' if args.database else 'SQLite'}"
    )
    print()
    print("| run | command | answers | p50 ms | p99 ms | max ms | mean ms | missing |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for label, result in rows:
        missing = len(result.get("missing", []))
        every = [v for k, v in result.items() if k != "missing" for v in v]
        for command, values in [*((c, result.get(c, [])) for c in COMMANDS), ("all", every)]:
            if not values:
                continue
            ms = [v * 1000 for v in values]
            print(
                f"| {label} | {command} | {len(ms)} | {percentile(ms, 0.5):.1f} "
                f"| {percentile(ms, 0.99):.1f} | {max(ms):.1f} | {statistics.fmean(ms):.1f} "
                f"| {missing if command == 'all' else ''} |"
            )


if __name__ == "__main__":
    main()
