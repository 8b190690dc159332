"""The dispatcher: middlewares and routers wired to the shared objects handlers receive."""

from __future__ import annotations

from aiogram import Bot, Dispatcher
from aiogram.types import BotCommand, BotCommandScopeDefault
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.handlers import routers
from bot.middlewares import DbSessionMiddleware, ThrottlingMiddleware, WorkspaceMiddleware
from jobs.context import media_store
from leap.settings import Settings
from locales import LANGUAGES, gettext
from storage.crypto import SecretBox

COMMANDS = (
    "start",
    "help",
    "language",
    "connect",
    "connections",
    "recordings",
    "find",
    "templates",
    "terms",
    "settings",
    "zoom",
    "zoom_connect",
    "usage",
    "roles",
    "audit",
    "cancel",
)


def create_dispatcher(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    arq: ArqRedis,
    secrets: SecretBox | None = None,
) -> Dispatcher:
    dp = Dispatcher(
        settings=settings,
        sessions=sessions,
        arq=arq,
        store=media_store(settings),
        secrets=secrets,
    )
    throttle = ThrottlingMiddleware(arq, rate=settings.throttle_rate, burst=settings.throttle_burst)
    for observer in (dp.message, dp.callback_query):
        observer.outer_middleware(throttle)
    workspaces = WorkspaceMiddleware()
    for observer in (dp.message, dp.callback_query, dp.my_chat_member, dp.chat_member):
        observer.outer_middleware(DbSessionMiddleware(sessions))
        observer.outer_middleware(workspaces)
    dp.include_routers(*routers())
    return dp


async def set_commands(bot: Bot) -> None:
    for lang in LANGUAGES:
        commands = [
            BotCommand(command=name, description=gettext(lang, f"commands.{name}"))
            for name in COMMANDS
        ]
        await bot.set_my_commands(
            commands,
            scope=BotCommandScopeDefault(),
            language_code=None if lang == "en" else lang,
        )
