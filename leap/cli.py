"""The `leap` command."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from leap.settings import Settings, get_settings

STAGES = ("trim", "transcribe", "topics", "subtitles", "compose")

NO_TOKEN = (
    "TELEGRAM_BOT_TOKEN is not set.\n"
    "Create a bot with @BotFather in Telegram (/newbot), then put "
    "TELEGRAM_BOT_TOKEN=<token> into .env or the environment."
)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from leap.logs import configure

    configure(get_settings())
    return int(args.handler(args) or 0)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="leap", description="LEAP bot: lecture recordings")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("run", help="bot and workers in one process").set_defaults(handler=_run)
    sub.add_parser("bot", help="the bot and its web server").set_defaults(handler=_bot)
    worker = sub.add_parser("worker", help="arq workers")
    worker.add_argument("--queue", choices=("media", "io", "all"), default="all")
    worker.set_defaults(handler=_worker)

    process = sub.add_parser("process", help="the pipeline on one file or URL, no Telegram")
    process.add_argument("input")
    process.add_argument("--out", type=Path)
    process.add_argument("--until", choices=STAGES, default="compose")
    process.add_argument("--remove-pauses", action="store_true")
    process.add_argument("--lang")
    process.set_defaults(handler=_process)

    database = sub.add_parser("db", help="database")
    database_sub = database.add_subparsers(dest="db_command", required=True)
    database_sub.add_parser("upgrade", help="apply migrations").set_defaults(handler=_db_upgrade)

    sub.add_parser("doctor", help="check what the bot needs").set_defaults(handler=_doctor)

    secrets = sub.add_parser("secrets", help="stored credentials")
    secrets_sub = secrets.add_subparsers(dest="secrets_command", required=True)
    secrets_sub.add_parser(
        "rotate", help="re-encrypt every credential under the first key of SECRET_KEY"
    ).set_defaults(handler=_secrets_rotate)

    search = sub.add_parser("search", help="transcript search")
    search_sub = search.add_subparsers(dest="search_command", required=True)
    search_sub.add_parser(
        "reindex", help="index the transcript of every recording that has one"
    ).set_defaults(handler=_search_reindex)

    from leap import ops

    ops.register(sub)
    return parser


def _serve(settings: Settings, *, bot: bool, queues: tuple[str, ...]) -> int:
    from leap.app import StartupError, serve, step_back_stage_threads

    async def go() -> None:
        if bot and queues:
            step_back_stage_threads(settings.worker_nice)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, bot=bot, queues=queues, stop=stop)

    try:
        asyncio.run(go())
    except StartupError as exc:
        print(f"leap: {exc}", file=sys.stderr)
        return 2
    return 0


def _require_token(settings: Settings) -> bool:
    if settings.telegram_bot_token is None:
        print(NO_TOKEN, file=sys.stderr)
        return False
    return True


def _run(_args: argparse.Namespace) -> int:
    settings = get_settings()
    if not _require_token(settings):
        return 2
    return _serve(settings, bot=True, queues=("media", "io"))


def _bot(_args: argparse.Namespace) -> int:
    settings = get_settings()
    if not _require_token(settings):
        return 2
    return _serve(settings, bot=True, queues=())


def _worker(args: argparse.Namespace) -> int:
    settings = get_settings()
    if not _require_token(settings):
        return 2
    queues = ("media", "io") if args.queue == "all" else (args.queue,)
    return _serve(settings, bot=False, queues=queues)


def _process(args: argparse.Namespace) -> int:
    from leap.process import run_process

    return run_process(
        args.input, args.out, args.until, remove_pauses=args.remove_pauses, lang=args.lang
    )


def _db_upgrade(_args: argparse.Namespace) -> int:
    from storage.db import upgrade

    settings = get_settings()
    upgrade(settings.database_url)
    print("database is up to date")
    return 0


def _secrets_rotate(_args: argparse.Namespace) -> int:
    from storage import repo
    from storage.crypto import SecretBox, SecretBoxError
    from storage.db import create_engine, session_maker

    settings = get_settings()
    if settings.secret_key is None or not settings.secret_key.get_secret_value().strip():
        print("SECRET_KEY is not set", file=sys.stderr)
        return 2
    try:
        box = SecretBox(settings.secret_key.get_secret_value())
    except SecretBoxError as exc:
        print(str(exc), file=sys.stderr)
        return 2

    async def rotate() -> int:
        engine = create_engine(settings.database_url)
        try:
            async with session_maker(engine)() as session:
                count = await repo.rotate_credentials(session, box)
                await session.commit()
                return count
        finally:
            await engine.dispose()

    try:
        count = asyncio.run(rotate())
    except SecretBoxError as exc:
        # The rotation is one transaction: nothing was re-encrypted.
        print(
            f"{exc}; nothing was changed: keep the old key in SECRET_KEY (after the new one)"
            " while rotating",
            file=sys.stderr,
        )
        return 1
    print(f"re-encrypted {count} credentials under the newest key")
    return 0


def _search_reindex(_args: argparse.Namespace) -> int:
    from jobs.context import media_store
    from jobs.files import TRANSCRIPT
    from storage import search
    from storage.db import create_engine, session_maker

    settings = get_settings()

    async def reindex() -> tuple[int, int]:
        engine = create_engine(settings.database_url)
        try:
            return await search.reindex(session_maker(engine), media_store(settings), TRANSCRIPT)
        finally:
            await engine.dispose()

    recordings, passages = asyncio.run(reindex())
    print(f"indexed {passages} passages of {recordings} recordings")
    return 0


def _doctor(_args: argparse.Namespace) -> int:
    from leap.doctor import run_checks

    return run_checks(get_settings())


if __name__ == "__main__":
    sys.exit(main())
