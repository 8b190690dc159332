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
from storage.objects import S3Config, S3Objects


@dataclass
class WorkerDeps:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    store: MediaStore
    bot: Bot
    redis: ArqRedis
    progress: ProgressHub
    secrets: SecretBox | None


def s3_config(settings: Settings) -> S3Config:
    secret = settings.s3_secret_access_key
    return S3Config(
        bucket=settings.s3_bucket or "",
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        access_key_id=settings.s3_access_key_id,
        secret_access_key=secret.get_secret_value() if secret else None,
        prefix=settings.s3_prefix,
        addressing_style=settings.s3_addressing_style,
        part_mb=settings.s3_multipart_mb,
    )


def media_store(settings: Settings) -> MediaStore:
    """The media store STORAGE_BACKEND asks for; the bot and the workers build it alike."""
    if settings.storage_backend == "s3":
        return MediaStore(settings.storage_dir, S3Objects(s3_config(settings)))
    return MediaStore(settings.storage_dir)
