"""publication resume state

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 21:00:00.000000

A publication's resume state was one string, ``session_uri``, that held whichever the platform
needed: YouTube's resumable session, VK's upload address, or the "telegram:sending" mark of a
Telegram post or export in flight. It becomes ``resume``, JSON in one shape per platform:
``{"session_uri": ...}`` for YouTube, ``{"upload_url": ...}`` for VK, ``{"sending": true}``
for the Telegram channel and the export. Every value is carried over both ways, so a
publication stopped mid-upload picks up where it was, on either side of the migration.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# The mark a Telegram post or export in flight was stored as.
SENDING = "telegram:sending"

publications = sa.table(
    "publications",
    sa.column("id", sa.Integer()),
    sa.column("platform", sa.String(32)),
    sa.column("session_uri", sa.Text()),
    sa.column("resume", sa.JSON(none_as_null=True)),
)


def _resume(platform: str, value: str) -> dict[str, Any] | None:
    if value == SENDING:
        return {"sending": True}
    if platform == "youtube":
        return {"session_uri": value}
    if platform == "vk":
        return {"upload_url": value}
    return None


def _session_uri(platform: str, resume: Any) -> str | None:
    if not isinstance(resume, dict):
        return None
    if resume.get("sending"):
        return SENDING
    key = {"youtube": "session_uri", "vk": "upload_url"}.get(platform)
    value = resume.get(key) if key else None
    return str(value) if value else None


def upgrade() -> None:
    with op.batch_alter_table("publications") as batch:
        batch.add_column(sa.Column("resume", sa.JSON(none_as_null=True), nullable=True))
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(publications.c.id, publications.c.platform, publications.c.session_uri).where(
            publications.c.session_uri.is_not(None)
        )
    ).all()
    for row_id, platform, value in rows:
        bind.execute(
            publications.update()
            .where(publications.c.id == row_id)
            .values(resume=_resume(platform, value))
        )
    with op.batch_alter_table("publications") as batch:
        batch.drop_column("session_uri")


def downgrade() -> None:
    with op.batch_alter_table("publications") as batch:
        batch.add_column(sa.Column("session_uri", sa.Text(), nullable=True))
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(publications.c.id, publications.c.platform, publications.c.resume).where(
            publications.c.resume.is_not(None)
        )
    ).all()
    for row_id, platform, resume in rows:
        bind.execute(
            publications.update()
            .where(publications.c.id == row_id)
            .values(session_uri=_session_uri(platform, resume))
        )
    with op.batch_alter_table("publications") as batch:
        batch.drop_column("resume")
