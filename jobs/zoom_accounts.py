"""A workspace's Zoom accounts and the recordings in them, for /zoom, the sync and `leap zoom`.

- Connecting: credentials are tried at once (a token, and the account's name when the app may
  read it) and stored encrypted; the same app sent again replaces the old one, and the
  connection is traced in the audit log.
- How far back and how small: `thresholds`, the workspace's own values, else the operator's.
- Listing for /zoom: `recent` lists the newest recordings of every account; an account that
  refuses its credentials or does not answer is named, and the others are listed all the same.
  A person is waiting, so Zoom gets two quick retries here, not the sync's patient ones.
- A meeting, not a file, is what comes in once (`imported_meetings`): Zoom may add a file to a
  meeting after its import.
- A recording /zoom offers is kept in Redis under a random key for an hour (`Pick`); a press
  takes it, so two presses at once do not import it twice.

Nothing here loads aiogram: `leap zoom list` starts without it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from secrets import token_urlsafe
from typing import Any

import sqlalchemy as sa
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from integrations.zoom import (
    Credentials,
    ZoomAuthError,
    ZoomClient,
    ZoomError,
    ZoomRecording,
    meeting_uuid,
    ref_prefix,
)
from jobs import keys
from leap.settings import Settings
from storage import repo
from storage.crypto import SecretBox, SecretBoxError
from storage.models import Credential, Recording, SourceKind, Workspace

PROVIDER = "zoom"
PICK_TTL = 3600
LIST_LIMIT = 15


@dataclass(frozen=True)
class Thresholds:
    days: int
    min_minutes: float
    min_mb: float

    @property
    def min_seconds(self) -> float:
        return self.min_minutes * 60

    @property
    def min_bytes(self) -> int:
        return int(self.min_mb * 1024 * 1024)


def thresholds(
    settings: Settings, workspace_settings: dict[str, Any] | None, *, listing: bool = False
) -> Thresholds:
    """The workspace's own values, else the operator's.

    `listing` is for `/zoom`, which looks further back (`zoom_list_days`) than the sync does.
    """
    own = workspace_settings or {}

    def pick(name: str, operator: float) -> float:
        # Workspace settings are free-form JSON; a value that is not a number is not one.
        try:
            return float(own.get(name, operator))
        except (TypeError, ValueError):
            return operator

    if listing:
        days = pick("zoom_list_days", settings.zoom_list_days)
    else:
        days = pick("zoom_sync_days", settings.zoom_sync_days)
    return Thresholds(
        days=max(1, int(days)),
        min_minutes=pick("zoom_min_minutes", settings.zoom_min_minutes),
        min_mb=pick("zoom_min_mb", settings.zoom_min_mb),
    )


# --- queries ------------------------------------------------------------------------------


async def zoom_workspaces(session: AsyncSession) -> list[int]:
    """Ids of the workspaces with a Zoom account.

    The sync's one read across workspaces; everything after it goes through the scoped
    accessors with one of these ids.
    """
    rows = await session.scalars(
        sa.select(Credential.workspace_id)
        .where(Credential.provider == PROVIDER)
        .distinct()
        .order_by(Credential.workspace_id)
    )
    return list(rows.all())


async def imported_meetings(
    session: AsyncSession, workspace_id: int, uuids: Sequence[str]
) -> set[str]:
    """Which of these meetings the workspace already imported (whichever file it took)."""
    wanted = list(dict.fromkeys(u for u in uuids if u))
    found: set[str] = set()
    for start in range(0, len(wanted), 100):
        batch = wanted[start : start + 100]
        rows = await session.scalars(
            sa.select(Recording.source_ref).where(
                Recording.workspace_id == workspace_id,
                Recording.source_kind == SourceKind.ZOOM,
                sa.or_(
                    *(
                        Recording.source_ref.startswith(ref_prefix(u), autoescape=True)
                        for u in batch
                    )
                ),
            )
        )
        found.update(meeting_uuid(ref) for ref in rows.all())
    return found


async def list_account(
    settings: Settings, creds: Credentials, first: date, last: date, limits: Thresholds
) -> list[ZoomRecording]:
    """One account's recordings between two days, with the sync's patient retries."""
    async with ZoomClient(
        creds, api_url=settings.zoom_api_url, oauth_url=settings.zoom_oauth_url
    ) as client:
        return await client.list_recordings(
            first, last, min_duration=limits.min_seconds, min_size=limits.min_bytes
        )


# --- connecting ---------------------------------------------------------------------------


def _quick_client(settings: Settings, creds: Credentials) -> ZoomClient:
    # A person is waiting: two quick retries, not the sync's patient ones.
    return ZoomClient(
        creds,
        api_url=settings.zoom_api_url,
        oauth_url=settings.zoom_oauth_url,
        retry_delays=(1.0, 3.0),
    )


async def check(settings: Settings, creds: Credentials) -> str:
    """Ask Zoom for a token with these credentials; returns a name for the account."""
    async with _quick_client(settings, creds) as client:
        await client.token()
        try:
            me = await client.me()
        except ZoomError:
            # The app may lack the user:read scope; the recordings still work without it.
            return creds.account_id
    return str(me.get("email") or creds.account_id)


async def connect(
    session: AsyncSession,
    workspace_id: int,
    secrets: SecretBox,
    creds: Credentials,
    account: str,
    user_id: int,
) -> None:
    """Store checked credentials for the workspace, replacing the same app sent before."""
    for row in await repo.credentials(session, workspace_id, PROVIDER):
        with contextlib.suppress(SecretBoxError):
            if secrets.decrypt(row.payload).get("account_id") == creds.account_id:
                await session.delete(row)
    await repo.store_credential(
        session,
        workspace_id,
        secrets,
        provider=PROVIDER,
        account_name=account,
        payload=creds.payload(),
        created_by=user_id,
    )
    await repo.audit(
        session,
        workspace_id,
        user_id,
        "connection_added",
        PROVIDER,
        account=account,
        account_id=creds.account_id,
    )
    await session.commit()


# --- listing for /zoom --------------------------------------------------------------------


@dataclass(frozen=True)
class Listed:
    credential_id: int
    account: str
    recording: ZoomRecording


@dataclass
class Listing:
    """The newest recordings of a workspace's accounts, and the accounts that failed."""

    limits: Thresholds
    recordings: list[Listed] = field(default_factory=list)
    imported: set[str] = field(default_factory=set)
    # In the accounts' order: ("refused", account) for credentials Zoom (or the secret key)
    # no longer takes, ("unreachable", account) for an account Zoom did not answer for.
    problems: list[tuple[str, str]] = field(default_factory=list)


async def recent(
    session: AsyncSession,
    workspace: Workspace,
    rows: Sequence[Credential],
    secrets: SecretBox,
    settings: Settings,
) -> Listing:
    """At most LIST_LIMIT recordings, newest first, from every account in `rows`."""
    listing = Listing(limits=thresholds(settings, workspace.settings, listing=True))
    limits = listing.limits
    today = datetime.now(UTC).date()
    found: list[Listed] = []
    for row in rows:
        account = row.account_name or f"#{row.id}"
        try:
            creds = Credentials.from_payload(secrets.decrypt(row.payload))
            async with _quick_client(settings, creds) as client:
                listed = await client.list_recordings(
                    today - timedelta(days=limits.days - 1),
                    today,
                    min_duration=limits.min_seconds,
                    min_size=limits.min_bytes,
                )
        except (ZoomAuthError, SecretBoxError):
            listing.problems.append(("refused", account))
            continue
        except ZoomError:
            listing.problems.append(("unreachable", account))
            continue
        found += [Listed(row.id, row.account_name, r) for r in listed]
    found.sort(key=lambda item: item.recording.start_time, reverse=True)
    listing.recordings = found[:LIST_LIMIT]
    uuids = [item.recording.uuid for item in listing.recordings]
    listing.imported = await imported_meetings(session, workspace.id, uuids)
    return listing


# --- what a button of /zoom imports -------------------------------------------------------


@dataclass(frozen=True)
class Pick:
    """A recording /zoom offered: the account it is in, and what its download needs."""

    account: str
    options: dict[str, Any]

    @property
    def recording(self) -> ZoomRecording:
        return ZoomRecording.from_options(self.options)

    @property
    def credential_id(self) -> int:
        return int(self.options.get("credential_id") or 0)

    def dump(self) -> str:
        return json.dumps({"account": self.account, "options": self.options})

    @classmethod
    def load(cls, raw: str | bytes) -> Pick:
        item = json.loads(raw)
        return cls(account=str(item.get("account") or ""), options=dict(item.get("options") or {}))


def _pick_key(workspace_id: int, key: str) -> str:
    return keys.zoom_pick(workspace_id, key)


async def offer_pick(redis: Redis, workspace_id: int, listed: Listed) -> str:
    """Keep a listed recording for its button; returns the key the button carries."""
    key = token_urlsafe(9)
    pick = Pick(listed.account, listed.recording.options(listed.credential_id))
    await redis.set(_pick_key(workspace_id, key), pick.dump(), ex=PICK_TTL)
    return key


async def take_pick(redis: Redis, workspace_id: int, key: str) -> Pick | None:
    """The pick a button carries, taken (not read): the first of two presses gets it."""
    raw = await redis.getdel(_pick_key(workspace_id, key))
    return None if raw is None else Pick.load(raw)


async def put_back(redis: Redis, workspace_id: int, key: str, pick: Pick) -> None:
    """The button stays: once there is room, the same press imports the recording."""
    await redis.set(_pick_key(workspace_id, key), pick.dump(), ex=PICK_TTL)


async def still_there(session: AsyncSession, workspace_id: int, pick: Pick) -> bool:
    """Whether the account is still connected here and the pick names a file."""
    owned = {row.id for row in await repo.credentials(session, workspace_id, PROVIDER)}
    return pick.credential_id in owned and pick.recording.file is not None
