"""A publication's resume state survives the migration that gives it one shape per platform.

A publication stopped mid-upload before the upgrade (YouTube's session, VK's upload address, a
Telegram post or export in flight) must pick up where it was after it, and after a downgrade
too: the values are carried over both ways, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from storage import db
from tests.storage.conftest import _postgres_url

BEFORE = "0003"
AFTER = "0004"

YOUTUBE_SESSION = "https://upload.example/session?upload_id=7"
VK_UPLOAD = "https://vu.example/upload?key=9"
# platform → what the old session_uri column held, and what the resume column holds now
STATES = {
    "youtube": (YOUTUBE_SESSION, {"session_uri": YOUTUBE_SESSION}),
    "vk": (VK_UPLOAD, {"upload_url": VK_UPLOAD}),
    "telegram": ("telegram:sending", {"sending": True}),
    "export": ("telegram:sending", {"sending": True}),
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'leap.db'}"
        return
    yield from _postgres_url()


def _run(url: str, work: str, name: str = "") -> object:
    """One step against the database: seed it, list a table's columns, or read a column."""

    async def go() -> object:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:
                if work == "seed":
                    return await _seed(conn)
                if work == "columns":
                    return await conn.run_sync(
                        lambda c: {col["name"] for col in sa.inspect(c).get_columns("publications")}
                    )
                return await _column(conn, name)
        finally:
            await engine.dispose()

    return asyncio.run(go())


async def _seed(conn: AsyncConnection) -> None:
    now = datetime.now(UTC)
    await conn.execute(
        sa.text(
            "INSERT INTO workspaces (id, chat_id, kind, title, settings, created_at)"
            " VALUES (1, 100, 'personal', 'w', '{}', :now)"
        ),
        {"now": now},
    )
    await conn.execute(
        sa.text(
            "INSERT INTO recordings (id, workspace_id, source_kind, source_ref, source_name,"
            " source_ext, status, media, options, language, created_at, updated_at)"
            " VALUES (1, 1, 'telegram', 'ref', 'talk.mp4', 'mp4', 'uploading', '{}', '{}',"
            " 'en', :now, :now)"
        ),
        {"now": now},
    )
    for number, (platform, (old, _)) in enumerate(STATES.items(), start=1):
        await conn.execute(
            sa.text(
                "INSERT INTO publications (id, workspace_id, recording_id, platform, status,"
                " session_uri, attempts, updated_at)"
                " VALUES (:id, 1, 1, :platform, 'uploading', :old, 1, :now)"
            ),
            {"id": number, "platform": platform, "old": old, "now": now},
        )
    await conn.execute(
        sa.text(
            "INSERT INTO publications (id, workspace_id, recording_id, platform, status,"
            " attempts, updated_at) VALUES (9, 1, 1, 'other', 'pending', 0, :now)"
        ),
        {"now": now},
    )


async def _column(conn: AsyncConnection, name: str) -> dict[str, object]:
    rows = (await conn.execute(sa.text(f"SELECT platform, {name} FROM publications"))).all()
    return {
        platform: json.loads(value) if isinstance(value, str) and name == "resume" else value
        for platform, value in rows
    }


def test_resume_state_moves_into_its_platform_shape_and_back(database_url: str) -> None:
    db.upgrade(database_url, BEFORE)
    _run(database_url, "seed")

    db.upgrade(database_url, AFTER)
    columns = _run(database_url, "columns")
    assert "resume" in columns and "session_uri" not in columns
    assert _run(database_url, "read", "resume") == {
        **{platform: new for platform, (_, new) in STATES.items()},
        "other": None,
    }

    command.downgrade(db.alembic_config(database_url), BEFORE)
    columns = _run(database_url, "columns")
    assert "session_uri" in columns and "resume" not in columns
    assert _run(database_url, "read", "session_uri") == {
        **{platform: old for platform, (old, _) in STATES.items()},
        "other": None,
    }
