"""`leap doctor`: what is there, what is missing, and how to fix it."""

from __future__ import annotations

import asyncio
import importlib.util
import shutil
import subprocess

from leap.settings import Settings

OK, WARN, FAIL = "ok", "warn", "FAIL"


def _tool_version(name: str) -> str | None:
    path = shutil.which(name)
    if path is None:
        return None
    out = subprocess.run([path, "-version"], capture_output=True, text=True, timeout=10)
    first = (out.stdout or out.stderr).splitlines()
    return first[0] if first else path


async def _redis(url: str) -> str | None:
    from redis.asyncio import Redis

    client = Redis.from_url(url, socket_connect_timeout=2)
    try:
        await client.ping()
        return None
    except Exception as exc:
        return type(exc).__name__
    finally:
        await client.aclose()


async def _database(url: str) -> str | None:
    import sqlalchemy as sa

    from storage.db import create_engine

    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
        return None
    except Exception as exc:
        return type(exc).__name__
    finally:
        await engine.dispose()


def _bucket(settings: Settings) -> tuple[str | None, str]:
    """What is wrong with the bucket (None: it can be listed) and where it is; no secrets."""
    from jobs.context import media_store
    from storage.objects import ObjectStoreError

    try:
        objects = media_store(settings).objects
        objects.check()
        return None, objects.describe()
    except ObjectStoreError as exc:
        return str(exc), ""


async def _bot_api(settings: Settings) -> tuple[str, str]:
    """Ask the Bot API who the bot is: a wrong token or an unreachable server is a failure."""
    from aiogram import Bot
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer

    from leap.app import StartupError, check_bot_api

    assert settings.telegram_bot_token is not None
    server = TelegramAPIServer.from_base(
        settings.telegram_api_url, is_local=settings.telegram_api_local
    )
    bot = Bot(settings.telegram_bot_token.get_secret_value(), session=AiohttpSession(api=server))
    try:
        name = await asyncio.wait_for(check_bot_api(bot, settings), 15)
        return OK, f"@{name} via {settings.telegram_api_url}"
    except StartupError as exc:
        return FAIL, str(exc)
    except TimeoutError:
        return FAIL, f"the Bot API at {settings.telegram_api_url} did not answer in 15 s"
    finally:
        await bot.session.close()


def describe_languages(languages: tuple[str, ...]) -> str:
    """What an engine understands, in a few words: "99 languages incl. ru, en"."""
    if tuple(languages) == ("en",):
        return "English only"
    shown = [code for code in ("ru", "en") if code in languages]
    suffix = f" incl. {', '.join(shown)}" if shown else ""
    return f"{len(languages)} languages{suffix}"


def _local_transcription(settings: Settings) -> tuple[str, str, str]:
    from integrations import stt
    from integrations.stt.local import LocalWhisper, resolve_model

    name = settings.local_whisper_model or "whisper base (bundled, multilingual)"
    try:
        _, here = resolve_model(settings.local_whisper_model)
        languages = LocalWhisper(settings.local_whisper_model).languages()
    except stt.TranscriptionError as exc:
        return FAIL, "transcription", f"local model {name}: {exc.detail or exc.code}"
    place = "" if here else ", downloaded at first use"
    understood = describe_languages(languages)
    if languages == ("en",):
        return (
            WARN,
            "transcription",
            f"local {name}{place}: {understood}; other lectures would come out as invented "
            "English: unset LOCAL_WHISPER_MODEL for the multilingual model (or use an API)",
        )
    return OK, "transcription", f"local {name}{place}: {understood}"


def run_checks(settings: Settings) -> int:
    rows: list[tuple[str, str, str]] = []

    for tool in ("ffmpeg", "ffprobe"):
        version = _tool_version(tool)
        if version:
            rows.append((OK, tool, version))
        else:
            rows.append((FAIL, tool, "missing: sudo apt-get install -y ffmpeg"))

    redis_error = asyncio.run(_redis(settings.redis_url))
    if redis_error is None:
        rows.append((OK, "redis", settings.redis_url.split("@")[-1]))
    else:
        rows.append(
            (
                FAIL,
                "redis",
                f"{redis_error}: start redis-server or set REDIS_URL",
            )
        )

    db_error = asyncio.run(_database(settings.database_url))
    if db_error is None:
        rows.append((OK, "database", settings.database_url.split("@")[-1]))
    else:
        rows.append((FAIL, "database", f"{db_error}: check DATABASE_URL, then `leap db upgrade`"))

    if settings.storage_backend == "s3":
        bucket_error, place = _bucket(settings)
        if bucket_error is None:
            rows.append((OK, "storage", f"{place}, working copies in {settings.storage_dir}"))
        else:
            rows.append((FAIL, "storage", bucket_error))
    else:
        rows.append((OK, "storage", f"local folder {settings.storage_dir}"))

    if settings.telegram_bot_token is None:
        rows.append((FAIL, "telegram", "TELEGRAM_BOT_TOKEN is not set: get one from @BotFather"))
    else:
        status, detail = asyncio.run(_bot_api(settings))
        rows.append((status, "telegram", detail))
    if settings.secret_key is None:
        rows.append((FAIL, "secrets", "SECRET_KEY is not set (make run writes one into .env)"))
    else:
        rows.append((OK, "secrets", "SECRET_KEY set"))

    if settings.transcribe_engine == "local":
        if importlib.util.find_spec("faster_whisper") is None:
            rows.append(
                (WARN, "transcription", "local engine missing: pip install 'leap-bot[local-asr]'")
            )
        else:
            rows.append(_local_transcription(settings))
    elif settings.transcribe_api_key is None:
        rows.append((FAIL, "transcription", "TRANSCRIBE_API_KEY is not set"))
    else:
        rows.append(
            (OK, "transcription", f"{settings.transcribe_model} via API (language detected)")
        )

    if settings.llm_api_key is None:
        rows.append((WARN, "topics", "no LLM_API_KEY: offline topic detection is used"))
    else:
        rows.append((OK, "topics", settings.llm_model))

    for status, name, detail in rows:
        print(f"[{status:>4}] {name:<14} {detail}")
    return 1 if any(status == FAIL for status, _, _ in rows) else 0
