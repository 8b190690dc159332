"""What every job receives: the shared parts of a worker process."""

from __future__ import annotations

from dataclasses import dataclass

from aiogram import Bot
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jobs.progress import ProgressHub
from leap.settings import Settings
from storage.crypto import SecretBox
from storage.files import MediaStore


@dataclass
class WorkerDeps:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    store: MediaStore
    bot: Bot
    redis: ArqRedis
    progress: ProgressHub
    secrets: SecretBox | None
