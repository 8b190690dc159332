"""`leap workspaces` and `leap workspace set-quota`, run as the operator runs them."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import timedelta

from leap.settings import Settings
from storage import quotas, repo
from storage.db import create_engine, session_maker
from storage.files import MediaStore
from storage.models import RecordingStatus, Role, SourceKind, Workspace, WorkspaceKind


async def leap(settings: Settings, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_"))}
    env.update(
        DATABASE_URL=settings.database_url,
        REDIS_URL=settings.redis_url,
        STORAGE_DIR=str(settings.storage_dir),
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "leap.cli",
        *args,
        cwd=settings.storage_dir.parent,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def seed(settings: Settings) -> tuple[int, int]:
    """A personal workspace with a month of lectures and one from before; an idle group."""
    engine = create_engine(settings.database_url)
    store = MediaStore(settings.storage_dir)
    try:
        async with session_maker(engine)() as session:
            lena, _ = await repo.ensure_workspace(session, 301, WorkspaceKind.PERSONAL, "Lena")
            group, _ = await repo.ensure_workspace(session, -100301, WorkspaceKind.GROUP, "Labs")
            await repo.upsert_member(session, lena.id, 301, role=Role.OWNER, name="Lena")
            for user_id in (1, 2, 3):
                await repo.upsert_member(session, group.id, user_id, name=f"P{user_id}")
            for seconds in (600.0, 300.0):
                recording = await repo.create_recording(
                    session,
                    lena.id,
                    source_kind=SourceKind.TELEGRAM,
                    source_ref="file",
                    status=RecordingStatus.READY,
                    media={"source": {"duration": seconds}},
                )
                store.source_path(lena.id, recording.id, "mp4").write_bytes(b"\0" * 1_000_000)
            await repo.create_recording(
                session,
                lena.id,
                source_kind=SourceKind.TELEGRAM,
                source_ref="file",
                status=RecordingStatus.READY,
                media={"source": {"duration": 1200.0}},
                created_at=quotas.month_start() - timedelta(days=1),
            )
            await session.commit()
            return lena.id, group.id
    finally:
        await engine.dispose()


def row(output: str, workspace_id: int) -> list[str]:
    for line in output.splitlines():
        if line.split() and line.split()[0] == str(workspace_id):
            return line.split()
    raise AssertionError(f"no workspace {workspace_id} in\n{output}")


async def test_workspaces_are_listed_with_their_use_and_a_quota_can_be_set(
    settings: Settings,
) -> None:
    lena, labs = await seed(settings)

    code, out, err = await leap(settings, "workspaces")
    assert code == 0, err
    assert out.splitlines()[0].split() == [
        "id",
        "kind",
        "chat",
        "recordings",
        "members",
        "storage",
        "minutes/month",
        "active",
        "title",
    ]
    # Two lectures of 10 and 5 minutes this month; the one from last month does not count.
    listed = row(out, lena)
    assert listed[:5] == [str(lena), "personal", "301", "3", "1"]
    assert listed[5:] == ["2.0", "MB/50.0", "GB", "15/3000", "0/3", "Lena"]
    assert row(out, labs)[1:5] == ["group", "-100301", "0", "3"]

    code, out, err = await leap(
        settings, "workspace", "set-quota", str(lena), "--storage-gb", "1", "--minutes", "120"
    )
    assert code == 0, err
    assert out.strip() == (
        f"workspace {lena}: storage 1 GB, minutes 120 min a month, recordings 3 at a time"
    )
    code, out, err = await leap(settings, "workspace", "set-quota", str(lena), "--concurrent", "0")
    assert code == 0, err
    assert "recordings no limit" in out

    code, out, err = await leap(settings, "workspaces")
    assert row(out, lena)[5:10] == ["2.0", "MB/1.0", "GB", "15/120", "0/-*"]

    engine = create_engine(settings.database_url)
    try:
        async with session_maker(engine)() as session:
            workspace = await session.get(Workspace, lena)
            assert workspace is not None
            assert workspace.settings["quota"] == {
                "storage_gb": 1.0,
                "minutes": 120.0,
                "concurrent": 0.0,
            }
            events = await repo.audit_events(session, lena)
            assert [e.action for e in events][:2] == ["quota_changed", "quota_changed"]
    finally:
        await engine.dispose()

    code, out, err = await leap(settings, "workspace", "set-quota", str(lena), "--default")
    assert code == 0, err
    assert out.strip() == (
        f"workspace {lena}: storage 50 GB, minutes 3000 min a month, recordings 3 at a time"
    )


async def test_set_quota_refuses_what_it_cannot_do(settings: Settings) -> None:
    await seed(settings)
    code, _out, err = await leap(settings, "workspace", "set-quota", "999", "--minutes", "5")
    assert code == 1 and err.strip().splitlines()[-1] == "no workspace 999"
    code, _out, err = await leap(settings, "workspace", "set-quota", "1")
    assert code == 1 and "name a limit" in err
    code, _out, err = await leap(settings, "workspace", "set-quota", "1", "--minutes", "-3")
    assert code == 2 and "not a number of 0 or more" in err
