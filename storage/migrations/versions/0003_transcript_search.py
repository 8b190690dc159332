"""transcript search passages

Revision ID: 0003
Revises: 0001
Create Date: 2026-12-05 20:45:00.000000

The passages /find searches, and the database's own index over their stems: an FTS5 table
kept by triggers on SQLite; on PostgreSQL to_tsvector('simple', stems), stored in a generated
column (ranking a passage then reads its vector instead of parsing its stems again) with a GIN
index. Existing transcripts are indexed by `leap search reindex`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None

_SQLITE_UP = (
    # External content: the text lives once, in search_passages; diacritics are kept, as
    # PostgreSQL's 'simple' configuration keeps them ("й" is not "и").
    """CREATE VIRTUAL TABLE search_passages_fts USING fts5(
        stems, content='search_passages', content_rowid='id',
        tokenize='unicode61 remove_diacritics 0'
    )""",
    """CREATE TRIGGER search_passages_ai AFTER INSERT ON search_passages BEGIN
        INSERT INTO search_passages_fts(rowid, stems) VALUES (new.id, new.stems);
    END""",
    """CREATE TRIGGER search_passages_ad AFTER DELETE ON search_passages BEGIN
        INSERT INTO search_passages_fts(search_passages_fts, rowid, stems)
        VALUES ('delete', old.id, old.stems);
    END""",
    """CREATE TRIGGER search_passages_au AFTER UPDATE ON search_passages BEGIN
        INSERT INTO search_passages_fts(search_passages_fts, rowid, stems)
        VALUES ('delete', old.id, old.stems);
        INSERT INTO search_passages_fts(rowid, stems) VALUES (new.id, new.stems);
    END""",
)
_SQLITE_DOWN = (
    "DROP TRIGGER IF EXISTS search_passages_au",
    "DROP TRIGGER IF EXISTS search_passages_ad",
    "DROP TRIGGER IF EXISTS search_passages_ai",
    "DROP TABLE IF EXISTS search_passages_fts",
)


def upgrade() -> None:
    op.create_table(
        "search_passages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("recording_id", sa.Integer(), nullable=False),
        sa.Column("start", sa.Float(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("starts", sa.JSON(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("stems", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["recording_id"], ["recordings.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_search_passages_recording", "search_passages", ["recording_id"])
    op.create_index(
        "ix_search_passages_workspace_language", "search_passages", ["workspace_id", "language"]
    )
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in _SQLITE_UP:
            op.execute(statement)
    elif dialect == "postgresql":
        op.execute(
            "ALTER TABLE search_passages ADD COLUMN stems_tsv tsvector"
            " GENERATED ALWAYS AS (to_tsvector('simple', stems)) STORED"
        )
        op.create_index(
            "ix_search_passages_stems", "search_passages", ["stems_tsv"], postgresql_using="gin"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in _SQLITE_DOWN:
            op.execute(statement)
    op.drop_table("search_passages")
