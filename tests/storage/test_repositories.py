"""Repositories on SQLite and PostgreSQL: a workspace only ever reaches its own rows."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import repo
from storage.crypto import SecretBox, generate_key
from storage.models import (
    Credential,
    Publication,
    Role,
    SourceKind,
    Template,
    Workspace,
    WorkspaceKind,
)


async def _two_workspaces(session: AsyncSession) -> tuple[Workspace, Workspace]:
    a, _ = await repo.ensure_workspace(session, -1001, WorkspaceKind.GROUP, "A")
    b, _ = await repo.ensure_workspace(session, -1002, WorkspaceKind.GROUP, "B")
    return a, b


async def test_a_workspace_cannot_read_another_workspaces_recording(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        a, b = await _two_workspaces(session)
        recording = await repo.create_recording(
            session, a.id, source_kind=SourceKind.TELEGRAM, source_ref="file-1", source_name="x"
        )
        await repo.stage_run(session, a.id, recording.id, "fetch")
        session.add(Publication(workspace_id=a.id, recording_id=recording.id, platform="youtube"))
        session.add(Template(workspace_id=a.id, name="Physics", body={}))
        await repo.audit(session, a.id, 1, "published", str(recording.id))
        await repo.store_credential(
            session, a.id, SecretBox(generate_key()), provider="vk", account_name="A", payload={}
        )
        await session.commit()

    async with sessions() as session:
        assert await repo.get_recording(session, b.id, recording.id) is None
        assert await repo.list_recordings(session, b.id) == []
        assert await repo.stage_runs(session, b.id, recording.id) == []
        assert await repo.publications(session, b.id, recording.id) == []
        assert await repo.templates(session, b.id) == []
        assert await repo.audit_events(session, b.id) == []
        assert await repo.credentials(session, b.id) == []

        own = await repo.get_recording(session, a.id, recording.id)
        assert own is not None and own.source_ref == "file-1"
        assert [r.id for r in await repo.list_recordings(session, a.id)] == [recording.id]
        assert len(await repo.publications(session, a.id, recording.id)) == 1


async def test_concurrent_first_updates_create_one_workspace_and_member(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async def first_contact() -> int:
        async with sessions() as session:
            workspace, _ = await repo.ensure_workspace(session, 777, WorkspaceKind.PERSONAL, "Ann")
            await repo.upsert_member(session, workspace.id, 777, role=Role.OWNER)
            await session.commit()
            return workspace.id

    ids = await asyncio.gather(*(first_contact() for _ in range(5)))
    assert len(set(ids)) == 1
    async with sessions() as session:
        assert len(await repo.members(session, ids[0])) == 1


async def test_unfinished_work_lists_only_recordings_with_a_stage_to_run(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    from storage.models import RecordingStatus

    async with sessions() as session:
        a, b = await _two_workspaces(session)
        waiting = await repo.create_recording(
            session, a.id, source_kind=SourceKind.TELEGRAM, source_ref="1", stage="fetch"
        )
        await repo.create_recording(
            session,
            b.id,
            source_kind=SourceKind.TELEGRAM,
            source_ref="2",
            status=RecordingStatus.FAILED,
            stage="fetch",
        )
        await repo.create_recording(
            session,
            b.id,
            source_kind=SourceKind.TELEGRAM,
            source_ref="3",
            status=RecordingStatus.DOWNLOADED,
        )
        await session.commit()
        assert list(await repo.unfinished_work(session)) == [(a.id, waiting.id, "fetch")]


async def test_credentials_are_encrypted_and_survive_key_rotation(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    old_key, new_key = generate_key(), generate_key()
    secret = "ya29.refresh-token-that-must-never-be-stored-in-clear"
    async with sessions() as session:
        workspace, _ = await repo.ensure_workspace(session, 555, WorkspaceKind.PERSONAL)
        await repo.store_credential(
            session,
            workspace.id,
            SecretBox(old_key),
            provider="youtube",
            account_name="Channel",
            payload={"refresh_token": secret},
        )
        await session.commit()

    async with sessions() as session:
        raw = await session.scalar(sa.select(Credential.payload))
        assert secret not in raw
        rotated_box = SecretBox(f"{new_key},{old_key}")
        assert await repo.rotate_credentials(session, rotated_box) == 1
        await session.commit()

    async with sessions() as session:
        (credential,) = await repo.credentials(session, workspace.id, "youtube")
        assert SecretBox(new_key).decrypt(credential.payload) == {"refresh_token": secret}


def test_secret_box_refuses_a_wrong_key() -> None:
    from storage.crypto import SecretBoxError

    token = SecretBox(generate_key()).encrypt({"a": 1})
    with pytest.raises(SecretBoxError):
        SecretBox(generate_key()).decrypt(token)
    with pytest.raises(SecretBoxError):
        SecretBox("not-a-key")
