"""Engines, sessions and migrations."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
_WAL_TRIES = 20
_WAL_WAIT = 0.05


def create_engine(url: str) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        # A bot and its workers write concurrently; WAL and a busy timeout keep SQLite from
        # answering "database is locked" under that load.
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA busy_timeout=30000")
            _switch_to_wal(cursor)
            cursor.execute("PRAGMA foreign_keys=ON")
            # With WAL, NORMAL still never corrupts the file; it only skips the fsync on each
            # commit, which under a burst of new chats was most of the bot's answer time.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return create_async_engine(url, pool_pre_ping=True)


def _switch_to_wal(cursor: Any) -> None:
    """Put the database in WAL mode unless it is already.

    The switch needs a lock that SQLite does not wait for; a database already in WAL (every
    one after its first connection) is left as it is. Two processes opening a new database
    at once can still meet there: the switch is tried again for a second, and a connection
    that never gets it works on in the old mode (the next connection switches)."""
    for _ in range(_WAL_TRIES):
        try:
            cursor.execute("PRAGMA journal_mode")
            if str(cursor.fetchone()[0]).lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
            time.sleep(_WAL_WAIT)


def session_maker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    # Alembic is imported only where migrations run: the bot and the workers start faster.
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["database_url"] = url
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations; synchronous, so call it from a thread inside an event loop."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    from alembic import command

    command.upgrade(alembic_config(url), revision)
