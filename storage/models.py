"""The database: what a workspace owns and where each recording stands."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: sa.JSON, list[Any]: sa.JSON}


def _enum(cls: type[enum.Enum]) -> sa.Enum:
    # Stored as plain strings so adding a value never needs a database-level type change.
    return sa.Enum(
        cls,
        native_enum=False,
        length=32,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class WorkspaceKind(enum.StrEnum):
    PERSONAL = "personal"
    GROUP = "group"


class Role(enum.StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"

    @property
    def is_admin(self) -> bool:
        return self in (Role.OWNER, Role.ADMIN)


class RecordingStatus(enum.StrEnum):
    INITIALIZED = "initialized"
    DOWNLOADING = "downloading"
    DOWNLOADED = "downloaded"
    PROCESSING = "processing"
    PROCESSED = "processed"
    AWAITING_REVIEW = "awaiting_review"
    UPLOADING = "uploading"
    READY = "ready"
    FAILED = "failed"
    SKIPPED = "skipped"
    EXPIRED = "expired"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset(
    {
        RecordingStatus.DOWNLOADED,
        RecordingStatus.PROCESSED,
        RecordingStatus.AWAITING_REVIEW,
        RecordingStatus.READY,
        RecordingStatus.FAILED,
        RecordingStatus.SKIPPED,
        RecordingStatus.EXPIRED,
    }
)


class StageStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


class PublicationStatus(enum.StrEnum):
    PENDING = "pending"
    UPLOADING = "uploading"
    DONE = "done"
    FAILED = "failed"


class SourceKind(enum.StrEnum):
    TELEGRAM = "telegram"
    LINK = "link"
    ZOOM = "zoom"
    LOCAL = "local"


class Workspace(Base):
    __tablename__ = "workspaces"

    id: Mapped[int] = mapped_column(primary_key=True)
    chat_id: Mapped[int] = mapped_column(sa.BigInteger, unique=True)
    kind: Mapped[WorkspaceKind] = mapped_column(_enum(WorkspaceKind))
    title: Mapped[str] = mapped_column(sa.String(255), default="")
    language: Mapped[str | None] = mapped_column(sa.String(8))
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)


class Member(Base):
    __tablename__ = "members"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(sa.BigInteger)
    role: Mapped[Role] = mapped_column(_enum(Role), default=Role.MEMBER)
    name: Mapped[str] = mapped_column(sa.String(255), default="")
    language: Mapped[str | None] = mapped_column(sa.String(8))
    updated_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class Recording(Base):
    __tablename__ = "recordings"
    __table_args__ = (sa.Index("ix_recordings_workspace_status", "workspace_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"))
    created_by: Mapped[int | None] = mapped_column(sa.BigInteger)
    source_kind: Mapped[SourceKind] = mapped_column(_enum(SourceKind))
    # A Telegram file id, a URL or a Zoom file id: never a path on our disk.
    source_ref: Mapped[str] = mapped_column(sa.Text)
    source_name: Mapped[str] = mapped_column(sa.String(512), default="")
    source_size: Mapped[int | None] = mapped_column(sa.BigInteger)
    source_ext: Mapped[str] = mapped_column(sa.String(8), default="bin")
    status: Mapped[RecordingStatus] = mapped_column(
        _enum(RecordingStatus), default=RecordingStatus.INITIALIZED
    )
    stage: Mapped[str | None] = mapped_column(sa.String(32))
    failure_code: Mapped[str | None] = mapped_column(sa.String(64))
    failure_reason: Mapped[str | None] = mapped_column(sa.Text)
    media: Mapped[dict[str, Any]] = mapped_column(default=dict)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    language: Mapped[str] = mapped_column(sa.String(8), default="en")
    chat_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    thread_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    progress_message_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    stages: Mapped[list[StageRun]] = relationship(
        back_populates="recording", cascade="all, delete-orphan", order_by="StageRun.id"
    )


class StageRun(Base):
    __tablename__ = "stage_runs"
    __table_args__ = (sa.UniqueConstraint("recording_id", "stage"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"))
    recording_id: Mapped[int] = mapped_column(sa.ForeignKey("recordings.id", ondelete="CASCADE"))
    stage: Mapped[str] = mapped_column(sa.String(32))
    status: Mapped[StageStatus] = mapped_column(_enum(StageStatus), default=StageStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    seconds: Mapped[float | None] = mapped_column(sa.Float)
    error: Mapped[str | None] = mapped_column(sa.Text)

    recording: Mapped[Recording] = relationship(back_populates="stages")


class Publication(Base):
    __tablename__ = "publications"
    __table_args__ = (sa.UniqueConstraint("recording_id", "platform"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"))
    recording_id: Mapped[int] = mapped_column(sa.ForeignKey("recordings.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(sa.String(32))
    status: Mapped[PublicationStatus] = mapped_column(
        _enum(PublicationStatus), default=PublicationStatus.PENDING
    )
    remote_id: Mapped[str | None] = mapped_column(sa.String(255))
    url: Mapped[str | None] = mapped_column(sa.Text)
    # Where an unfinished upload picks up, one shape per platform (jobs.publish.resume):
    # saved before the upload starts, so a publication is never sent twice.
    resume: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON(none_as_null=True))
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(sa.Text)
    updated_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class Credential(Base):
    __tablename__ = "credentials"

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(sa.String(32))
    account_name: Mapped[str] = mapped_column(sa.String(255), default="")
    # Fernet token; the clear payload never touches the database.
    payload: Mapped[str] = mapped_column(sa.Text)
    created_by: Mapped[int | None] = mapped_column(sa.BigInteger)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)


class Template(Base):
    __tablename__ = "templates"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(128))
    priority: Mapped[int] = mapped_column(default=0)
    body: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (sa.Index("ix_audit_workspace_time", "workspace_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    action: Mapped[str] = mapped_column(sa.String(64))
    target: Mapped[str] = mapped_column(sa.String(255), default="")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
