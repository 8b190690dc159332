from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from storage import db
from storage.files import MediaStore, safe_ext


def test_media_paths_are_made_of_ids_only(tmp_path: Path) -> None:
    store = MediaStore(tmp_path)
    path = store.source_path(3, 42, "../../etc/passwd")
    assert path.parent.parent == tmp_path.resolve() / "workspaces/3/recordings"
    assert path.parent.name.startswith("42-") and path.name == "source.bin"
    assert store.source_path(3, 42, ".MP4").name == "source.mp4"
    for bad in ("../1", -1, True, 1.5):
        with pytest.raises(ValueError):
            store.recording_dir(1, bad)  # type: ignore[arg-type]
    assert safe_ext("webm") == "webm" and safe_ext("a b") == "bin"


def test_usage_and_delete_are_per_recording(tmp_path: Path) -> None:
    store = MediaStore(tmp_path)
    store.source_path(1, 1, "mp4").write_bytes(b"x" * 1000)
    store.source_path(1, 2, "mp4").write_bytes(b"y" * 500)
    store.source_path(2, 3, "mp4").write_bytes(b"z" * 10)
    assert store.usage(1) == 1500
    assert store.delete_recording(1, 1) == 1000
    assert store.usage(1) == 500 and store.usage(2) == 10


def test_migrations_go_up_and_down(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    db.upgrade(url)
    sync_url = f"sqlite:///{tmp_path / 'm.db'}"
    tables = set(sa.inspect(sa.create_engine(sync_url)).get_table_names())
    expected = {
        "workspaces",
        "members",
        "recordings",
        "stage_runs",
        "publications",
        "credentials",
        "templates",
        "audit_events",
    }
    assert expected <= tables
    command.downgrade(db.alembic_config(url), "base")
    assert set(sa.inspect(sa.create_engine(sync_url)).get_table_names()) <= {"alembic_version"}
