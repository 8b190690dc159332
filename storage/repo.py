"""Queries. Everything a workspace owns is reached through its id, so no query can forget it."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.crypto import SecretBox
from storage.models import (
    TERMINAL_STATUSES,
    AuditEvent,
    Credential,
    Member,
    Publication,
    Recording,
    RecordingStatus,
    Role,
    StageRun,
    StageStatus,
    Template,
    Workspace,
    WorkspaceKind,
)

# --- workspaces and members -------------------------------------------------------------


async def workspace_by_chat(session: AsyncSession, chat_id: int) -> Workspace | None:
    return await session.scalar(sa.select(Workspace).where(Workspace.chat_id == chat_id))


async def ensure_workspace(
    session: AsyncSession, chat_id: int, kind: WorkspaceKind, title: str = ""
) -> tuple[Workspace, bool]:
    workspace = await workspace_by_chat(session, chat_id)
    if workspace is not None:
        if title and workspace.title != title[:255]:
            workspace.title = title[:255]
        return workspace, False
    # Two first updates from a new chat arrive together; the database decides who creates it.
    created = await _insert_ignoring_conflict(
        session,
        Workspace,
        ["chat_id"],
        chat_id=chat_id,
        kind=kind,
        title=title[:255],
        settings={},
    )
    workspace = await workspace_by_chat(session, chat_id)
    assert workspace is not None
    return workspace, created


HEARD_LANGUAGE = "heard_language"
"""The workspace setting that keeps the language the chat's people last spoke to the bot in."""


def chat_language(workspace: Workspace, default: str) -> str:
    """The language to write in when nobody asked: a Zoom import, a cleanup notice.

    The chat's own choice (/settings, /language) first, then the language its people last
    spoke to the bot in, then the installation's default.
    """
    heard = (workspace.settings or {}).get(HEARD_LANGUAGE)
    return workspace.language or (heard if isinstance(heard, str) and heard else default)


async def update_workspace_settings(
    session: AsyncSession, workspace: Workspace, change: Callable[[dict[str, Any]], None]
) -> dict[str, Any]:
    """Change a workspace's settings as the database holds them now; returns what is stored.

    The settings hold preferences and role grants alike, and updates are handled side by
    side: a handler that wrote back the copy its update loaded would undo whatever another
    saved meanwhile. So the row is read again here and stays locked until the transaction
    ends (SELECT … FOR UPDATE on PostgreSQL; SQLite has no row locks, so a write takes the
    database's write lock first, and the read after it sees every earlier commit). `change`
    edits a copy in place. Commit soon after: others wait for this one until then.
    """
    if session.get_bind().dialect.name == "sqlite":
        await session.execute(
            sa.update(Workspace)
            .where(Workspace.id == workspace.id)
            .values(settings=Workspace.settings)
            .execution_options(synchronize_session=False)
        )
    await session.refresh(workspace, ["settings"], with_for_update=True)
    settings = copy.deepcopy(workspace.settings or {})
    change(settings)
    # A new object: the JSON column notices a replaced value, not one changed in place.
    workspace.settings = settings
    return settings


async def get_member(session: AsyncSession, workspace_id: int, user_id: int) -> Member | None:
    return await session.scalar(
        sa.select(Member).where(Member.workspace_id == workspace_id, Member.user_id == user_id)
    )


async def upsert_member(
    session: AsyncSession,
    workspace_id: int,
    user_id: int,
    *,
    role: Role | None = None,
    name: str | None = None,
    language: str | None = None,
) -> Member:
    member = await get_member(session, workspace_id, user_id)
    if member is None:
        await _insert_ignoring_conflict(
            session,
            Member,
            ["workspace_id", "user_id"],
            workspace_id=workspace_id,
            user_id=user_id,
            role=role or Role.MEMBER,
            name="",
        )
        member = await get_member(session, workspace_id, user_id)
        assert member is not None
    elif role is not None:
        member.role = role
    if name is not None:
        member.name = name[:255]
    if language is not None:
        member.language = language
    await session.flush()
    return member


async def add_member(
    session: AsyncSession, workspace_id: int, user_id: int, *, role: Role, name: str
) -> Member:
    """A member known to be new, in two statements; one added meanwhile is returned as is."""
    await _insert_ignoring_conflict(
        session,
        Member,
        ["workspace_id", "user_id"],
        workspace_id=workspace_id,
        user_id=user_id,
        role=role,
        name=name[:255],
    )
    member = await get_member(session, workspace_id, user_id)
    assert member is not None
    return member


async def members(session: AsyncSession, workspace_id: int) -> Sequence[Member]:
    rows = await session.scalars(
        sa.select(Member).where(Member.workspace_id == workspace_id).order_by(Member.id)
    )
    return rows.all()


async def _insert_ignoring_conflict(
    session: AsyncSession, model: type[Any], keys: list[str], **values: Any
) -> bool:
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(model).values(**values).on_conflict_do_nothing(index_elements=keys)
    result = await session.execute(statement)
    return bool(result.rowcount)


# --- recordings -------------------------------------------------------------------------


async def create_recording(session: AsyncSession, workspace_id: int, **fields: Any) -> Recording:
    recording = Recording(workspace_id=workspace_id, **fields)
    session.add(recording)
    await session.flush()
    return recording


# Ids beyond a signed 64-bit integer cannot exist, and databases refuse to compare with them.
MAX_ID = 2**63 - 1


async def get_recording(
    session: AsyncSession, workspace_id: int, recording_id: int
) -> Recording | None:
    if not 0 < recording_id <= MAX_ID:
        return None
    return await session.scalar(
        sa.select(Recording).where(
            Recording.workspace_id == workspace_id, Recording.id == recording_id
        )
    )


async def list_recordings(
    session: AsyncSession, workspace_id: int, *, limit: int = 10, offset: int = 0
) -> Sequence[Recording]:
    if offset > MAX_ID:
        return []
    rows = await session.scalars(
        sa.select(Recording)
        .where(Recording.workspace_id == workspace_id)
        .order_by(Recording.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return rows.all()


async def count_active(session: AsyncSession, workspace_id: int) -> int:
    return (
        await session.scalar(
            sa.select(sa.func.count())
            .select_from(Recording)
            .where(
                Recording.workspace_id == workspace_id,
                Recording.status.not_in(list(TERMINAL_STATUSES)),
            )
        )
        or 0
    )


async def unfinished_work(session: AsyncSession) -> Sequence[tuple[int, int, str]]:
    """(workspace_id, recording_id, stage) of every recording a worker still owes work.

    The one cross-workspace query: the recovery sweep serves every workspace alike and returns
    ids only, which the stage runner then reloads through the scoped accessors above.
    """
    rows = await session.execute(
        sa.select(Recording.workspace_id, Recording.id, Recording.stage).where(
            Recording.status.not_in(list(TERMINAL_STATUSES)), Recording.stage.is_not(None)
        )
    )
    return [(w, r, s) for w, r, s in rows.all() if s]


# --- stage runs -------------------------------------------------------------------------


async def stage_run(
    session: AsyncSession, workspace_id: int, recording_id: int, stage: str
) -> StageRun:
    run = await session.scalar(
        sa.select(StageRun).where(
            StageRun.workspace_id == workspace_id,
            StageRun.recording_id == recording_id,
            StageRun.stage == stage,
        )
    )
    if run is None:
        run = StageRun(workspace_id=workspace_id, recording_id=recording_id, stage=stage)
        session.add(run)
        await session.flush()
    return run


async def stage_runs(
    session: AsyncSession, workspace_id: int, recording_id: int
) -> Sequence[StageRun]:
    rows = await session.scalars(
        sa.select(StageRun)
        .where(StageRun.workspace_id == workspace_id, StageRun.recording_id == recording_id)
        .order_by(StageRun.id)
    )
    return rows.all()


def mark_running(run: StageRun) -> None:
    run.status = StageStatus.RUNNING
    run.attempts += 1
    run.started_at = datetime.now(UTC)
    run.finished_at = None
    run.error = None


def mark_finished(run: StageRun, status: StageStatus, error: str | None = None) -> None:
    run.status = status
    run.finished_at = datetime.now(UTC)
    if run.started_at is not None:
        started = run.started_at
        if started.tzinfo is None:
            started = started.replace(tzinfo=UTC)
        run.seconds = (run.finished_at - started).total_seconds()
    run.error = error


def fail_recording(recording: Recording, code: str, reason: str) -> None:
    recording.status = RecordingStatus.FAILED
    recording.failure_code = code
    recording.failure_reason = reason


# --- publications, credentials, templates, audit ---------------------------------------


async def publications(
    session: AsyncSession, workspace_id: int, recording_id: int
) -> Sequence[Publication]:
    rows = await session.scalars(
        sa.select(Publication)
        .where(Publication.workspace_id == workspace_id, Publication.recording_id == recording_id)
        .order_by(Publication.id)
    )
    return rows.all()


async def store_credential(
    session: AsyncSession,
    workspace_id: int,
    box: SecretBox,
    *,
    provider: str,
    account_name: str,
    payload: dict[str, Any],
    created_by: int | None = None,
) -> Credential:
    credential = Credential(
        workspace_id=workspace_id,
        provider=provider,
        account_name=account_name[:255],
        payload=box.encrypt(payload),
        created_by=created_by,
    )
    session.add(credential)
    await session.flush()
    return credential


async def credentials(
    session: AsyncSession, workspace_id: int, provider: str | None = None
) -> Sequence[Credential]:
    query = sa.select(Credential).where(Credential.workspace_id == workspace_id)
    if provider is not None:
        query = query.where(Credential.provider == provider)
    rows = await session.scalars(query.order_by(Credential.id))
    return rows.all()


async def templates(session: AsyncSession, workspace_id: int) -> Sequence[Template]:
    rows = await session.scalars(
        sa.select(Template)
        .where(Template.workspace_id == workspace_id)
        .order_by(Template.priority.desc(), Template.id)
    )
    return rows.all()


async def audit(
    session: AsyncSession,
    workspace_id: int,
    user_id: int | None,
    action: str,
    target: str = "",
    **details: Any,
) -> AuditEvent:
    event = AuditEvent(
        workspace_id=workspace_id, user_id=user_id, action=action, target=target, details=details
    )
    session.add(event)
    await session.flush()
    return event


async def audit_events(
    session: AsyncSession, workspace_id: int, *, limit: int = 20, offset: int = 0
) -> Sequence[AuditEvent]:
    rows = await session.scalars(
        sa.select(AuditEvent)
        .where(AuditEvent.workspace_id == workspace_id)
        .order_by(AuditEvent.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return rows.all()


async def rotate_credentials(session: AsyncSession, box: SecretBox) -> int:
    """Re-encrypt every credential under the newest key (an operator action across workspaces)."""
    rows = (await session.scalars(sa.select(Credential))).all()
    for credential in rows:
        credential.payload = box.rotate(credential.payload)
    await session.flush()
    return len(rows)


# --- roles, audit pages -----------------------------------------------------------------


async def members_with_roles(
    session: AsyncSession, workspace_id: int, roles: Sequence[Role]
) -> Sequence[Member]:
    rows = await session.scalars(
        sa.select(Member)
        .where(Member.workspace_id == workspace_id, Member.role.in_(list(roles)))
        .order_by(Member.id)
    )
    return rows.all()


async def count_audit_events(session: AsyncSession, workspace_id: int) -> int:
    return (
        await session.scalar(
            sa.select(sa.func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.workspace_id == workspace_id)
        )
        or 0
    )


async def member_names(
    session: AsyncSession, workspace_id: int, user_ids: Sequence[int]
) -> dict[int, str]:
    if not user_ids:
        return {}
    rows = await session.execute(
        sa.select(Member.user_id, Member.name).where(
            Member.workspace_id == workspace_id, Member.user_id.in_(list(user_ids))
        )
    )
    return {user_id: name for user_id, name in rows.all()}
