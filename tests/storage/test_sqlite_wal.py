"""A new SQLite database opened by two processes at once: the one that cannot switch it to
WAL yet waits a moment instead of failing with "database is locked"."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

from sqlalchemy import text

from storage.db import create_engine


async def test_a_connection_opened_while_another_holds_the_new_database_waits(
    tmp_path: Path,
) -> None:
    path = tmp_path / "leap.db"
    other = sqlite3.connect(path, check_same_thread=False)
    other.execute("CREATE TABLE t (x INTEGER)")
    other.commit()
    other.commit()
    # Another process in the middle of its first write: SQLite will not switch modes under
    # it, and does not wait for it either.
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO t VALUES (1)")
    release = threading.Timer(0.4, other.commit)
    release.start()
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 1
            mode = (await conn.execute(text("PRAGMA journal_mode"))).scalar()
        assert str(mode).lower() == "wal"
    finally:
        release.join()
        other.close()
        await engine.dispose()
    await asyncio.sleep(0)
