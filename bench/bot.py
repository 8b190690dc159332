"""How fast the bot answers commands under 100 updates a second, idle and with busy workers.

Run from the repository root::

    .venv/bin/python -m bench.bot [--rate 100] [--seconds 10] [--users 200] [--lectures 20]

The bot runs as its own process, as deployed (`leap bot`, or `leap run` for the third run),
polling the fake Bot API of the tests, which runs in this process with the load generator:
Telegram is another machine, so it must not share the bot's event loop. SQLite database, a
real Redis (REDIS_URL when it answers, otherwise a private redis-server).

Each of `--users` people first sends /start (which makes their workspace: timed on its own
row), then they send /help and /start in turn, `--rate` commands a second, for `--seconds`
("all" sums these). An answer's latency is from the moment its update
is handed to the Bot API server to the moment the bot's reply arrives there.

Runs:
- the bot alone (`leap bot`);
- `leap bot` while a `leap worker` process (the docker-compose layout) processes
  `--lectures` recordings sent just before (speech through the fake OpenAI-compatible
  server, so the CPU work is trimming, probing and thumbnails);
- `leap run`, the same recordings processed by workers inside the bot's own process.

Prints p50 / p99 / max per command, how many answers were missing, and the bot process's
CPU time per command (which other load on the machine barely changes). `--runs alone`
picks runs; BENCH_PREFIX="py-spy record -o bot.svg --" runs the bot under a profiler.
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
from leap.settings import Settings
from storage import db
from storage.crypto import generate_key
from tests.fakes.openai import FakeOpenAI, Phrase, Upload
from tests.fakes.telegram import FakeTelegram

TOKEN = "123456:BENCH-token-for-the-fake-server"
COMMANDS = ("/help", "/start")
CPU = "cpu per command"
FIRST = "first /start"
PREFIX = os.environ.get("BENCH_PREFIX", "").split()


def cpu_seconds(pid: int) -> float:
    """User and system CPU time process `pid` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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


def leap_process(settings: Settings, folder: Path, command: str) -> subprocess.Popen[bytes]:
    """`leap <command>` configured like `settings`, as its own process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_"))}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        env[name.upper()] = json.dumps(value) if isinstance(value, dict | list) else str(value)
    log = (folder / f"{command}.log").open("wb")
    return subprocess.Popen(
        [*PREFIX, sys.executable, "-m", "leap.cli", command], cwd=folder, env=env, stdout=log,
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
    processes = [leap_process(settings, folder, "run" if mode == "in process" else "bot")]
    if mode == "worker process":
        processes.append(leap_process(settings, folder, "worker"))
    try:
        await _until_polling(telegram)
        if busy:
            video = await asyncio.to_thread(lecture, folder)
            for n in range(args.lectures):
                user = telegram.user(900_000 + n, f"Lecturer {n}", language_code="en")
                await telegram.send_document(
                    telegram.private_chat(user), user, video, file_name=f"l{n}.mp4",
                    mime_type="video/mp4",
                )  # fmt: skip
            await _until_busy(telegram, args.lectures)
        people = []
        for n in range(args.users):
            user = telegram.user(1000 + n, f"Person {n}", language_code="en")
            people.append((telegram.private_chat(user), user))
        # Everyone's first message makes their workspace; timed apart from the steady state.
        first = await _load(telegram, people, args.rate, [(FIRST, "/start")] * len(people))
        total = int(args.rate * args.seconds)
        commands = [(c, c) for n in range(total) for c in [COMMANDS[(n // args.users) % 2]]]
        bot = processes[0].pid
        before = cpu_seconds(bot)
        result = await _load(telegram, people, args.rate, commands)
        # CPU per command tells the bot's own cost apart from what else the machine runs.
        result[CPU] = [(cpu_seconds(bot) - before) / total]
        result[FIRST] = first[FIRST]
        result["missing"] += first.get("missing", [])
        return result
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            await asyncio.to_thread(process.wait, 60)
        await openai.stop()
        await telegram.stop()


async def _load(
    telegram: FakeTelegram,
    people: list[tuple[dict[str, Any], dict[str, Any]]],
    rate: float,
    commands: list[tuple[str, str]],
) -> dict[str, list[float]]:
    """Sends `commands` (label, text), the n-th from the n-th person in turn, `rate` a second."""
    answered_before = {chat["id"]: len(telegram.sent(chat["id"])) for chat, _ in people}
    sent: dict[int, list[tuple[str, float]]] = defaultdict(list)
    start = time.monotonic()
    order = itertools.cycle(people)
    for n, (label, text) in enumerate(commands):
        delay = start + n / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        chat, user = next(order)
        sent[chat["id"]].append((label, time.monotonic()))
        await telegram.send_text(chat, user, text)
    # Give the last answers time to arrive.
    for _ in range(300):
        done = sum(min(len(telegram.sent(c)) - answered_before[c], len(v)) for c, v in sent.items())
        if done >= len(commands):
            break
        await asyncio.sleep(0.1)
    latencies: dict[str, list[float]] = defaultdict(list)
    for chat_id, labels in sent.items():
        answers = [m.sent_at for m in telegram.sent(chat_id)[answered_before[chat_id] :]]
        for (label, at), answered in zip(labels, answers, strict=False):
            latencies[label].append(answered - at)
        latencies["missing"].extend([0.0] * max(len(labels) - len(answers), 0))
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


async def _until_polling(telegram: FakeTelegram) -> None:
    """Until the bot asks for updates, so the first commands are not timed from before."""
    for _ in range(1200):
        if telegram.calls_of("getUpdates"):
            return
        await asyncio.sleep(0.05)
    raise RuntimeError("the bot never started polling")


async def _until_busy(telegram: FakeTelegram, lectures: int) -> None:
    """Until the workers are trimming: a progress message says so."""
    for _ in range(1200):
        edits = [c for c in telegram.calls_of("editMessageText") if "Trim" in str(c.params)]
        if edits:
            return
        await asyncio.sleep(0.05)
    raise RuntimeError("the workers never started")


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
    parser.add_argument(
        "--runs", default="alone,worker process,in process", help="which runs, comma-separated"
    )
    args = parser.parse_args()
    chosen = {name.strip() for name in args.runs.split(",")}
    rows = []
    with redis_server() as url, tempfile.TemporaryDirectory(prefix="bench-bot-") as tmp:
        runs = {
            "alone": "leap bot alone",
            "worker process": "leap bot + busy leap worker process",
            "in process": "leap run, its workers busy",
        }
        for mode, label in runs.items():
            if mode not in chosen:
                continue
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
    print(
        "| run | command | answers | p50 ms | p99 ms | max ms | mean ms | missing "
        "| bot CPU ms/command |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, result in rows:
        missing = len(result.get("missing", []))
        cpu = result.pop(CPU, [0.0])[0] * 1000
        every = [v for c in COMMANDS for v in result.get(c, [])]
        timed = [(FIRST, result.get(FIRST, [])), *((c, result.get(c, [])) for c in COMMANDS)]
        for command, values in [*timed, ("all", every)]:
            if not values:
                continue
            ms = [v * 1000 for v in values]
            print(
                f"| {label} | {command} | {len(ms)} | {percentile(ms, 0.5):.1f} "
                f"| {percentile(ms, 0.99):.1f} | {max(ms):.1f} | {statistics.fmean(ms):.1f} "
                f"| {missing if command == 'all' else ''} "
                f"| {f'{cpu:.2f}' if command == 'all' else ''} |"
            )


if __name__ == "__main__":
    main()
