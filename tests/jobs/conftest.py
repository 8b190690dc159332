"""A processed recording as the pipeline leaves it, the fake platforms, and a publish helper.

`World` is one chat whose recording waits for review: its row (status AWAITING_REVIEW), its
folder with a real video, subtitles, metadata and a thumbnail, and a progress message the bot
posted. Connections are stored the way the connect flow stores them (encrypted, through
storage.repo); tests/bot/test_connections_e2e.py drives that flow itself.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from arq.connections import ArqRedis, RedisSettings, create_pool
from pydantic import SecretStr

from integrations import vk_oauth
from jobs.publish import request_publication
from leap.settings import Settings
from storage import repo
from storage.crypto import SecretBox
from storage.db import create_engine, session_maker
from storage.files import MediaStore
from storage.models import (
    AuditEvent,
    Credential,
    Publication,
    Recording,
    RecordingStatus,
    Role,
    SourceKind,
    WorkspaceKind,
)
from tests.fakes.google import FakeGoogle
from tests.fakes.telegram import FakeTelegram
from tests.fakes.vk import FakeVk

VK_USER = 7
VK_GROUP = 42
CHANNEL = -1001234567890
CHAPTERS = [
    {"start": 0.0, "title": "Introduction"},
    {"start": 2.0, "title": "Sampling a signal"},
    {"start": 4.5, "title": "Aliasing"},
]
METADATA = {
    "title": "Signals, lecture 3: sampling",
    "description": (
        "How we measure a signal over time.\n\n"
        "0:00 Introduction\n0:02 Sampling a signal\n0:04 Aliasing"
    ),
    "tags": ["signals", "sampling"],
    "chapters": CHAPTERS,
}
SRT = "1\n00:00:00,000 --> 00:00:02,000\nGood morning everyone.\n\n"
VTT = "WEBVTT\n\n00:00.000 --> 00:02.000\nGood morning everyone.\n\n"


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", *args], check=True)


@pytest.fixture(scope="session")
def lecture_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A six-second lecture of about 1.5 MB (several 256 KiB upload chunks) and its cover."""
    folder = tmp_path_factory.mktemp("publish-media")
    _ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=s=640x360:r=25:d=6",
        "-f", "lavfi", "-i", "sine=f=440:d=6",
        "-vf", "noise=alls=30:allf=t",
        "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "2M", "-maxrate", "2M",
        "-bufsize", "1M", "-c:a", "aac", "-shortest", "-movflags", "+faststart",
        str(folder / "video.mp4"),
    )  # fmt: skip
    _ffmpeg(
        "-ss", "1", "-i", str(folder / "video.mp4"), "-frames:v", "1", str(folder / "thumbnail.jpg")
    )
    assert (folder / "video.mp4").stat().st_size > 3 * 256 * 1024
    return folder


@pytest.fixture
async def google() -> AsyncIterator[FakeGoogle]:
    async with FakeGoogle() as fake:
        yield fake


@pytest.fixture
async def vk() -> AsyncIterator[FakeVk]:
    async with FakeVk() as fake:
        fake.add_user(VK_USER, "Ann")
        fake.add_group(VK_GROUP, "Lectures", admins={VK_USER})
        yield fake


@pytest.fixture
def pub_settings(settings: Settings, google: FakeGoogle, vk: FakeVk) -> Settings:
    """Settings pointing every platform at its fake, with small chunks and short waits."""
    vk.redirect_uris.add(f"http://127.0.0.1:{settings.web_port}/oauth/vk/callback")
    return settings.model_copy(
        update={
            "public_base_url": f"http://127.0.0.1:{settings.web_port}",
            "youtube_client_id": google.client_id,
            "youtube_client_secret": SecretStr(google.client_secret),
            "google_auth_url": google.auth_url,
            "google_token_url": google.token_url,
            "youtube_api_url": google.api_url,
            "vk_client_id": vk.client_id,
            "vk_api_url": vk.api_url,
            "vk_oauth_url": vk.oauth_url,
            "youtube_chunk_size": 256 * 1024,
            "publish_retry_delay": 0.02,
        }
    )


@dataclass
class World:
    settings: Settings
    telegram: FakeTelegram
    google: FakeGoogle
    vk: FakeVk
    chat: dict[str, Any]
    user: dict[str, Any]
    workspace_id: int
    recording_id: int
    folder: Path
    progress_message_id: int

    @property
    def box(self) -> SecretBox:
        assert self.settings.secret_key is not None
        return SecretBox(self.settings.secret_key.get_secret_value())

    async def _session_call(self, work: Any) -> Any:
        engine = create_engine(self.settings.database_url)
        try:
            async with session_maker(engine)() as session:
                result = await work(session)
                await session.commit()
                return result
        finally:
            await engine.dispose()

    async def publish(self, platforms: Sequence[str]) -> list[str]:
        """What the review card's Publish button does."""
        redis: ArqRedis = await create_pool(RedisSettings.from_dsn(self.settings.redis_url))
        try:
            return await self._session_call(
                lambda s: request_publication(
                    s, redis, self.workspace_id, self.recording_id, list(platforms), self.user["id"]
                )
            )
        finally:
            await redis.aclose()

    async def connect(self, provider: str, account: str, payload: dict[str, Any]) -> None:
        async def store(session: Any) -> None:
            await repo.store_credential(
                session,
                self.workspace_id,
                self.box,
                provider=provider,
                account_name=account,
                payload=payload,
                created_by=self.user["id"],
            )

        await self._session_call(store)

    async def connect_youtube(self) -> dict[str, str]:
        tokens = self.google.issue_tokens()
        expires = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        await self.connect("youtube", "Lecture Hall", {**tokens, "expires_at": expires})
        return tokens

    async def connect_vk(self, *, expires_in: float = 3600) -> dict[str, Any]:
        """A person's VK ID sign-in (real client, fake VK ID) and the community chosen."""
        tokens = await vk_sign_in(self.vk, self.settings)
        payload = {
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
            "expires_at": (datetime.now(UTC) + timedelta(seconds=expires_in)).isoformat(),
            "user_id": tokens.user_id,
            "device_id": tokens.device_id,
            "group_id": VK_GROUP,
            "group_name": "Lectures",
        }
        await self.connect("vk", "Lectures", payload)
        return payload

    async def connect_channel(self, *, username: str = "lectures_channel") -> dict[str, Any]:
        self.telegram.channel(CHANNEL, "Lectures channel", username=username)
        payload = {"chat_id": CHANNEL, "title": "Lectures channel", "username": username}
        await self.connect("telegram", "Lectures channel", payload)
        return payload

    async def set_compose(self, **options: Any) -> None:
        async def update(session: Any) -> None:
            recording = await repo.get_recording(session, self.workspace_id, self.recording_id)
            assert recording is not None
            compose = {**recording.media.get("compose", {}), **options}
            recording.media = {**recording.media, "compose": compose}

        await self._session_call(update)

    async def rows(self, model: type) -> list[Any]:
        async def read(session: Any) -> list[Any]:
            return list((await session.scalars(sa.select(model))).all())

        return await self._session_call(read)

    async def recording(self) -> Recording:
        return (await self.rows(Recording))[0]

    async def publications(self) -> dict[str, Publication]:
        return {p.platform: p for p in await self.rows(Publication)}

    async def credentials(self) -> list[Credential]:
        return await self.rows(Credential)

    async def audit(self) -> list[AuditEvent]:
        return await self.rows(AuditEvent)

    async def links_message(self, timeout: float = 20.0) -> Any:
        return await self.telegram.wait_for_message(
            self.chat["id"],
            lambda m: (m.content or "").startswith(("📺", "❌")),
            timeout=timeout,
            after=0,
        )

    def links_messages(self) -> list[Any]:
        return [
            m
            for m in self.telegram.sent(self.chat["id"])
            if (m.content or "").startswith(("📺", "❌"))
        ]


async def vk_sign_in(vk: FakeVk, settings: Settings) -> vk_oauth.VkTokens:
    redirect = f"http://127.0.0.1:{settings.web_port}/oauth/vk/callback"
    vk.redirect_uris.add(redirect)
    verifier, challenge = vk_oauth.new_pkce()
    state = vk_oauth.new_state()
    url = vk_oauth.authorization_url(
        vk.client_id, redirect, state, challenge, oauth_url=vk.oauth_url
    )
    landing = vk_oauth.parse_redirect(await vk.approve(url, user_id=VK_USER), expected_state=state)
    return await vk_oauth.exchange_code(
        landing.code,
        verifier,
        landing.device_id,
        redirect,
        client_id=vk.client_id,
        oauth_url=vk.oauth_url,
        state=state,
    )


@pytest.fixture
async def world(
    pub_settings: Settings,
    telegram: FakeTelegram,
    google: FakeGoogle,
    vk: FakeVk,
    lecture_files: Path,
) -> World:
    """A private chat whose recording is processed and waits for review."""
    user = telegram.user(501, "Anna", language_code="en")
    chat = telegram.private_chat(user)
    bot = Bot(telegram.token, session=AiohttpSession(api=telegram.api()))
    try:
        progress = await bot.send_message(chat["id"], "🎬 lecture.mp4")
    finally:
        await bot.session.close()

    engine = create_engine(pub_settings.database_url)
    try:
        async with session_maker(engine)() as session:
            workspace, _ = await repo.ensure_workspace(
                session, chat["id"], WorkspaceKind.PERSONAL, "Anna"
            )
            await repo.upsert_member(session, workspace.id, user["id"], role=Role.OWNER)
            recording = await repo.create_recording(
                session,
                workspace.id,
                created_by=user["id"],
                source_kind=SourceKind.TELEGRAM,
                source_ref="file-id",
                source_name="lecture.mp4",
                source_ext="mp4",
                status=RecordingStatus.AWAITING_REVIEW,
                language="en",
                chat_id=chat["id"],
                progress_message_id=progress.message_id,
                media={
                    "source": {"duration": 6.0, "width": 640, "height": 360},
                    "trim": {"duration": 6.0},
                    "compose": {"template": "default", "title": METADATA["title"]},
                },
            )
            await session.commit()
            workspace_id, recording_id = workspace.id, recording.id
    finally:
        await engine.dispose()

    folder = MediaStore(pub_settings.storage_dir).recording_dir(
        workspace_id, recording_id, create=False
    )
    folder.mkdir(parents=True)
    (folder / "video.mp4").write_bytes((lecture_files / "video.mp4").read_bytes())
    (folder / "thumbnail.jpg").write_bytes((lecture_files / "thumbnail.jpg").read_bytes())
    (folder / "subtitles.srt").write_text(SRT, encoding="utf-8")
    (folder / "subtitles.vtt").write_text(VTT, encoding="utf-8")
    (folder / "metadata.json").write_text(json.dumps(METADATA), encoding="utf-8")
    return World(
        settings=pub_settings,
        telegram=telegram,
        google=google,
        vk=vk,
        chat=chat,
        user=user,
        workspace_id=workspace_id,
        recording_id=recording_id,
        folder=folder,
        progress_message_id=progress.message_id,
    )
