"""Operator commands: the chat's operations without the chat (Zoom, recordings, publishing,
workspaces and their quotas).

They open the database and Redis named by the settings, act across workspaces (an operator
serves them all, so ids are global here and every change is then made through the scoped
accessors with the recording's own workspace), print one line per thing and exit non-zero
with a reason on stderr when they cannot do what was asked.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from leap.settings import Settings, get_settings

if TYPE_CHECKING:
    # Only a type here; importing arq costs every command most of a second.
    from arq.connections import ArqRedis

PLATFORMS = ("youtube", "vk", "telegram", "export")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the operator subcommands to the `leap` parser."""
    zoom = sub.add_parser("zoom", help="Zoom cloud recordings of the connected accounts")
    zoom_sub = zoom.add_subparsers(dest="zoom_command", required=True)
    listing = zoom_sub.add_parser("list", help="recent recordings and whether they are imported")
    since = listing.add_mutually_exclusive_group()
    since.add_argument("--last", type=int, metavar="DAYS", help="the last DAYS days")
    since.add_argument(
        "--from", dest="from_date", type=date.fromisoformat, metavar="DATE", help="since DATE"
    )
    listing.add_argument("--workspace", type=int, metavar="ID")
    listing.set_defaults(handler=_command(_zoom_list))
    sync = zoom_sub.add_parser("sync", help="import new recordings now, as the schedule does")
    sync.add_argument("--last", type=int, metavar="DAYS", help="look back DAYS days")
    sync.add_argument("--workspace", type=int, metavar="ID")
    sync.set_defaults(handler=_command(_zoom_sync))

    recordings = sub.add_parser("recordings", help="recordings of every workspace")
    rec_sub = recordings.add_subparsers(dest="recordings_command", required=True)
    rec_list = rec_sub.add_parser("list", help="recordings and where they stand")
    rec_list.add_argument("--workspace", type=int, metavar="ID")
    rec_list.add_argument("--limit", type=int, default=50)
    rec_list.set_defaults(handler=_command(_recordings_list))
    reset = rec_sub.add_parser("reset", help="queue the stage a recording failed in again")
    reset.add_argument("id", type=int)
    reset.set_defaults(handler=_command(_recordings_reset))
    clean = rec_sub.add_parser("clean", help="delete media older than N days, keep the rows")
    clean.add_argument("--days", type=float, required=True, metavar="N")
    clean.add_argument("--workspace", type=int, metavar="ID")
    clean.set_defaults(handler=_command(_recordings_clean))

    publish = sub.add_parser("publish", help="publish a reviewed recording")
    publish.add_argument("id", type=int)
    publish.add_argument(
        "--platform", choices=PLATFORMS, action="append", required=True, dest="platforms"
    )
    publish.set_defaults(handler=_command(_publish))

    workspaces = sub.add_parser("workspaces", help="workspaces with their use and limits")
    workspaces.set_defaults(handler=_command(_workspaces))
    workspace = sub.add_parser("workspace", help="one workspace")
    ws_sub = workspace.add_subparsers(dest="workspace_command", required=True)
    quota = ws_sub.add_parser(
        "set-quota", help="this workspace's own limits (0: none); the others stay as they are"
    )
    quota.add_argument("id", type=int)
    quota.add_argument("--storage-gb", type=_not_negative, metavar="N")
    quota.add_argument("--minutes", type=_not_negative, metavar="N")
    quota.add_argument("--concurrent", type=_whole, metavar="N")
    quota.add_argument(
        "--default", action="store_true", help="drop this workspace's own limits first"
    )
    quota.set_defaults(handler=_command(_set_quota))


class Refused(Exception):
    """The command cannot do what was asked; the message says why."""


def _command(
    body: Callable[[Settings, argparse.Namespace], Awaitable[int]],
) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return asyncio.run(body(get_settings(), args))
        except Refused as exc:
            print(str(exc), file=sys.stderr)
            return 1

    return run


# --- what the commands share ------------------------------------------------------------------


@dataclass
class Ops:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    redis: ArqRedis | None


@asynccontextmanager
async def _open(settings: Settings, *, redis: bool = False) -> AsyncIterator[Ops]:
    # Not through jobs.worker: importing the workers (and aiogram) costs seconds per command.
    from arq.connections import RedisSettings, create_pool

    from storage.db import create_engine, session_maker

    engine = create_engine(settings.database_url)
    pool = await create_pool(RedisSettings.from_dsn(settings.redis_url)) if redis else None
    try:
        yield Ops(settings, session_maker(engine), pool)
    finally:
        if pool is not None:
            await pool.aclose()
        await engine.dispose()


@asynccontextmanager
async def _worker_deps(settings: Settings) -> AsyncIterator[Any]:
    """What a worker has, for commands that post in chats as the scheduled jobs do."""
    from jobs.worker import build_deps, close_deps, redis_pool

    if settings.telegram_bot_token is None:
        raise Refused("TELEGRAM_BOT_TOKEN is not set: the bot must be able to post in the chats.")
    pool = await redis_pool(settings)
    deps = await build_deps(settings, pool)
    try:
        yield deps
    finally:
        await close_deps(deps)
        await pool.aclose()


def _box(settings: Settings) -> Any:
    from storage.crypto import SecretBox

    key = settings.secret_key.get_secret_value() if settings.secret_key else ""
    if not key.strip():
        raise Refused("SECRET_KEY is not set, so stored credentials cannot be read.")
    return SecretBox(key)


async def _recording(session: AsyncSession, recording_id: int) -> Any:
    from storage.models import Recording

    # Operators name recordings by their global id; the workspace comes from the row.
    recording = await session.get(Recording, recording_id)
    if recording is None:
        raise Refused(f"no recording {recording_id}")
    return recording


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


# --- leap zoom ---------------------------------------------------------------------------------


async def _zoom_list(settings: Settings, args: argparse.Namespace) -> int:
    from integrations.zoom import Credentials, ZoomError
    from jobs.zoom_accounts import (
        PROVIDER,
        imported_meetings,
        list_account,
        thresholds,
        zoom_workspaces,
    )
    from locales.format import duration, size
    from storage import repo
    from storage.crypto import SecretBoxError
    from storage.models import Workspace

    box = _box(settings)
    failures = 0
    today = datetime.now(UTC).date()
    async with _open(settings) as ops, ops.sessions() as session:
        ids = [args.workspace] if args.workspace else await zoom_workspaces(session)
        for workspace_id in ids:
            workspace = await session.get(Workspace, workspace_id)
            if workspace is None:
                raise Refused(f"no workspace {workspace_id}")
            limits = thresholds(settings, workspace.settings)
            first = args.from_date or today - timedelta(days=(args.last or limits.days) - 1)
            rows = await repo.credentials(session, workspace_id, PROVIDER)
            if not rows:
                print(f"workspace {workspace_id}: no Zoom account")
            for row in rows:
                print(f"workspace {workspace_id} ({workspace.title}), Zoom {row.account_name}:")
                try:
                    creds = Credentials.from_payload(box.decrypt(row.payload))
                    found = await list_account(settings, creds, first, today, limits)
                except (ZoomError, SecretBoxError) as exc:
                    print(f"  Zoom account {row.account_name}: {exc}", file=sys.stderr)
                    failures += 1
                    continue
                done = await imported_meetings(session, workspace_id, [r.uuid for r in found])
                for rec in found:
                    state = (
                        "processing"
                        if rec.processing
                        else "imported"
                        if rec.uuid in done
                        else "new"
                    )
                    volume = size("en", rec.file.size) if rec.file and rec.file.size else "-"
                    print(
                        f"  {_when(rec.start_time)}  {duration(rec.duration):>8}  "
                        f"{volume:>9}  {state:<10}  {rec.topic}"
                    )
                if not found:
                    print("  no recordings")
    return 1 if failures else 0


async def _zoom_sync(settings: Settings, args: argparse.Namespace) -> int:
    from jobs.zoom_sync import sync_all

    async with _worker_deps(settings) as deps:
        if deps.secrets is None:
            raise Refused("SECRET_KEY is not set, so stored credentials cannot be read.")
        report = await sync_all(deps, days=args.last, workspace_id=args.workspace)
    for plan in report.imported:
        print(
            f"imported: workspace {plan.workspace_id}, recording {plan.recording_id}, "
            f"{plan.recording.topic} (template {plan.template})"
        )
    for plan in report.planned:
        targets = ", ".join(plan.targets) or "none"
        print(
            f"dry run: workspace {plan.workspace_id}, {plan.recording.topic} -> template "
            f"{plan.template} -> {plan.title} -> {targets}"
        )
    for plan, refusal in report.held:
        print(
            f"held at the {refusal.kind} quota: workspace {plan.workspace_id}, "
            f"{plan.recording.topic} (uses {refusal.used:g} of {refusal.limit:g})"
        )
    for error in report.errors:
        print(f"error: {error}", file=sys.stderr)
    if not (report.imported or report.planned or report.held):
        print("nothing new to import")
    return 1 if report.errors else 0


# --- leap recordings ---------------------------------------------------------------------------


async def _recordings_list(settings: Settings, args: argparse.Namespace) -> int:
    from storage.models import Recording

    async with _open(settings) as ops, ops.sessions() as session:
        query = sa.select(Recording).order_by(Recording.id.desc()).limit(args.limit)
        if args.workspace:
            query = query.where(Recording.workspace_id == args.workspace)
        found = list((await session.scalars(query)).all())
    if not found:
        print("no recordings")
    for rec in reversed(found):
        print(
            f"{rec.id:>6}  ws {rec.workspace_id:<4}  {rec.status.value:<15}  "
            f"{rec.stage or '-':<10}  {rec.source_kind.value:<8}  {_when(rec.created_at)}  "
            f"{rec.source_name}"
        )
    return 0


async def _recordings_reset(settings: Settings, args: argparse.Namespace) -> int:
    from jobs.enqueue import enqueue_stage
    from storage import repo
    from storage.models import RecordingStatus, StageStatus

    async with _open(settings, redis=True) as ops, ops.sessions() as session:
        recording = await _recording(session, args.id)
        if recording.status is RecordingStatus.EXPIRED:
            raise Refused(f"recording {recording.id} has expired: its media is gone")
        stage = recording.stage
        if stage is None:
            failed = [
                r
                for r in await repo.stage_runs(session, recording.workspace_id, recording.id)
                if r.status is StageStatus.FAILED
            ]
            if not failed:
                raise Refused(f"recording {recording.id} has no failed stage to run again")
            stage = failed[-1].stage
        run = await repo.stage_run(session, recording.workspace_id, recording.id, stage)
        run.status = StageStatus.PENDING
        run.error = None
        # Any status that is not final lets the runner take the stage; it sets the precise one.
        recording.status = RecordingStatus.PROCESSING
        recording.stage = stage
        recording.failure_code = None
        recording.failure_reason = None
        await repo.audit(
            session, recording.workspace_id, None, "reset", f"recording:{recording.id}", stage=stage
        )
        await session.commit()
        assert ops.redis is not None
        queued = await enqueue_stage(ops.redis, recording.workspace_id, recording.id, stage)
    note = "queued" if queued else "already queued"
    print(f"recording {args.id}: back to {stage}, {note}")
    return 0


async def _recordings_clean(settings: Settings, args: argparse.Namespace) -> int:
    from integrations.telegram import make_bot
    from jobs.context import media_store
    from jobs.retention import expire_old_media
    from locales.format import size

    if args.days < 0:
        raise Refused("--days must not be negative")
    bot = None
    if settings.telegram_bot_token is not None:
        bot = make_bot(
            settings.bot_token, settings.telegram_api_url, local=settings.telegram_api_local
        )
    try:
        async with _open(settings) as ops:
            results = await expire_old_media(
                ops.sessions,
                media_store(settings),
                settings,
                bot=bot,
                days=args.days,
                workspace_id=args.workspace,
            )
    finally:
        if bot is not None:
            await bot.session.close()
    for freed in results:
        ids = ", ".join(str(i) for i, _name in freed.recordings)
        print(
            f"workspace {freed.workspace_id}: {len(freed.recordings)} recordings expired "
            f"({ids}), freed {size('en', freed.bytes)}"
        )
    if not results:
        print(f"nothing older than {args.days:g} days")
    return 0


# --- leap publish ------------------------------------------------------------------------------


async def _publish(settings: Settings, args: argparse.Namespace) -> int:
    from storage import repo
    from storage.models import RecordingStatus

    async with _open(settings, redis=True) as ops, ops.sessions() as session:
        recording = await _recording(session, args.id)
        if recording.status is RecordingStatus.EXPIRED:
            raise Refused(f"recording {recording.id} has expired: its media is gone")
        if recording.stage is not None:
            raise Refused(
                f"recording {recording.id} is not processed yet "
                f"({recording.status.value} at {recording.stage})"
            )
        from jobs.publish import PlatformRefused, request_publication

        assert ops.redis is not None
        try:
            queued = await request_publication(
                session, ops.redis, recording.workspace_id, recording.id, list(args.platforms), None
            )
        except PlatformRefused as exc:
            raise Refused(str(exc)) from exc
        recording = await _recording(session, args.id)
        if queued and recording.status is RecordingStatus.AWAITING_REVIEW:
            recording.status = RecordingStatus.UPLOADING
        await repo.audit(
            session,
            recording.workspace_id,
            None,
            "publish",
            f"recording:{recording.id}",
            platforms=list(args.platforms),
            queued=list(queued),
            by="operator",
        )
        await session.commit()
    if queued:
        print(f"recording {args.id}: publishing to {', '.join(queued)}")
    else:
        print(f"recording {args.id}: nothing to queue (already published or in progress)")
    return 0


# --- leap workspaces, leap workspace set-quota -------------------------------------------------


def _not_negative(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"not a number of 0 or more: {text}")
    return value


def _whole(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"not a number of 0 or more: {text}")
    return value


def _of(used: str, limit: float, shown: str) -> str:
    return f"{used}/{shown}" if limit else f"{used}/-"


def _minutes(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


async def _workspaces(settings: Settings, args: argparse.Namespace) -> int:
    from jobs.context import media_store
    from locales.format import size
    from storage import quotas
    from storage.models import Member, Recording, Workspace

    # With S3 the bucket holds the media; the local folder is only a working copy.
    store = media_store(settings)
    lines = []
    async with _open(settings) as ops, ops.sessions() as session:
        found = (await session.scalars(sa.select(Workspace).order_by(Workspace.id))).all()
        recordings = await _count_by_workspace(session, Recording.workspace_id)
        members = await _count_by_workspace(session, Member.workspace_id)
        for workspace in found:
            used = await quotas.usage(session, store, workspace.id)
            limit = quotas.limits(workspace, settings)
            storage = _of(
                size("en", used.storage_bytes),
                limit.storage_bytes,
                size("en", limit.storage_bytes),
            )
            minutes = _of(_minutes(used.minutes), limit.minutes, _minutes(limit.minutes))
            active = _of(str(used.active), limit.concurrent, str(limit.concurrent))
            # A star marks limits the operator set for this workspace alone.
            own = "*" if quotas.overrides(workspace) else " "
            lines.append(
                f"{workspace.id:>4}  {workspace.kind.value:<8}  {workspace.chat_id:>15}  "
                f"{recordings.get(workspace.id, 0):>10}  {members.get(workspace.id, 0):>7}  "
                f"{storage:>19}  {minutes:>13}  {active:>6}{own}  {workspace.title}"
            )
    if not lines:
        print("no workspaces")
        return 0
    print(
        f"{'id':>4}  {'kind':<8}  {'chat':>15}  {'recordings':>10}  {'members':>7}  "
        f"{'storage':>19}  {'minutes/month':>13}  {'active':>6}   title"
    )
    for line in lines:
        print(line)
    return 0


async def _count_by_workspace(session: AsyncSession, column: Any) -> dict[int, int]:
    rows = await session.execute(sa.select(column, sa.func.count()).group_by(column))
    return {int(workspace_id): int(count) for workspace_id, count in rows.all()}


async def _set_quota(settings: Settings, args: argparse.Namespace) -> int:
    from storage import quotas, repo
    from storage.models import Workspace

    values = {"storage_gb": args.storage_gb, "minutes": args.minutes, "concurrent": args.concurrent}
    if all(v is None for v in values.values()) and not args.default:
        raise Refused("name a limit: --storage-gb, --minutes, --concurrent (or --default)")
    async with _open(settings) as ops, ops.sessions() as session:
        workspace = await session.get(Workspace, args.id)
        if workspace is None:
            raise Refused(f"no workspace {args.id}")
        # On the settings as stored now: a preference changed in the chat meanwhile stays.
        await repo.update_workspace_settings(
            session,
            workspace,
            lambda stored: quotas.change_overrides(stored, values, reset=args.default),
        )
        own = quotas.overrides(workspace)
        await repo.audit(
            session, workspace.id, None, "quota_changed", "quota", by="operator", **own
        )
        await session.commit()
        limit = quotas.limits(workspace, settings)
    storage = f"{limit.storage_bytes / quotas.GB:g} GB" if limit.storage_bytes else "no limit"
    minutes = f"{limit.minutes:g} min a month" if limit.minutes else "no limit"
    concurrent = f"{limit.concurrent} at a time" if limit.concurrent else "no limit"
    print(
        f"workspace {workspace.id}: storage {storage}, minutes {minutes}, recordings {concurrent}"
    )
    return 0
