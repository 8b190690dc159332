"""Zoom cloud recordings: connecting accounts, listing and importing recordings.

Connecting: an admin sends the credentials of a Zoom Server-to-Server OAuth app (account id,
client id, client secret) in a private chat. The message is deleted as soon as it is read, the
credentials are tried at once by asking Zoom for a token, and they are stored encrypted.

Which workspace an account serves: the one the admin asked from. `/zoom_connect` in a private
chat connects the admin's personal workspace. In a group, the bot never takes secrets; it
remembers for a quarter of an hour that this admin wants Zoom for this group and asks for the
credentials in the private chat, where they then connect the group (the admin's role in the
group is checked again when they arrive).

`/zoom` lists the recent recordings of the workspace's accounts, marks the ones already
imported, and offers a button for each of the others; a button queues the recording like a
file sent to the chat.
"""

from __future__ import annotations

import contextlib
import html
import json
import logging
import re
from datetime import UTC, datetime, timedelta
from secrets import token_urlsafe
from typing import Any

from aiogram import Bot, F, Router
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import BaseFilter, Command, CommandObject
from aiogram.types import CallbackQuery, Message
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks.zoom import ZoomPickCb
from bot.keyboards import zoom as keyboards
from integrations.zoom import (
    Credentials,
    ZoomAuthError,
    ZoomClient,
    ZoomError,
    ZoomRecording,
)
from jobs.enqueue import enqueue_stage
from jobs.zoom_sync import imported_meetings
from leap.settings import Settings
from locales import Translator
from locales.format import duration, size
from storage import repo
from storage.crypto import SecretBox, SecretBoxError
from storage.files import safe_ext
from storage.models import Role, SourceKind, Workspace, WorkspaceKind

log = logging.getLogger(__name__)

PROVIDER = "zoom"
AWAIT_TTL = 15 * 60
PICK_TTL = 3600
LIST_LIMIT = 15
LIST_DAYS = 30
# The same defaults as the scheduled sync: short calls and tiny files are rarely lectures.
MIN_MINUTES = 30.0
MIN_MB = 40.0

_LABELLED = re.compile(
    r"\b(account[ _-]?id|client[ _-]?id|client[ _-]?secret)\W{0,3}[:=]\s*([^\s,;]+)",
    re.IGNORECASE,
)
_VALUE = re.compile(r"[A-Za-z0-9._~-]{4,128}")


def parse_credentials(text: str) -> Credentials | None:
    """Three values, labelled ("Client ID: …") or bare in order: account, client, secret."""
    found: dict[str, str] = {}
    for match in _LABELLED.finditer(text):
        label = re.sub(r"[ _-]", "", match.group(1).lower())
        key = {"accountid": "account_id", "clientid": "client_id"}.get(label, "client_secret")
        found[key] = match.group(2)
    if len(found) == 3:
        values = [found["account_id"], found["client_id"], found["client_secret"]]
    else:
        values = text.split()
    if len(values) != 3 or not all(_VALUE.fullmatch(v) for v in values):
        return None
    return Credentials(account_id=values[0], client_id=values[1], client_secret=values[2])


def _looks_like_credentials(text: str) -> bool:
    return len(_LABELLED.findall(text)) >= 2


def _await_key(user_id: int) -> str:
    return f"leap:zoom:await:{user_id}"


def _pick_key(workspace_id: int, key: str) -> str:
    return f"leap:zoom:pick:{workspace_id}:{key}"


class ExpectingCredentials(BaseFilter):
    """A private text the bot asked for with /zoom_connect, or one that plainly carries them.

    Hands the handler `target`: the workspace id the admin asked to connect, or None for the
    personal workspace.
    """

    async def __call__(self, message: Message, arq: ArqRedis) -> bool | dict[str, Any]:
        text = message.text or ""
        if message.from_user is None or not text or text.startswith("/"):
            return False
        raw = await arq.get(_await_key(message.from_user.id))
        # A link sent meanwhile is a recording for the intake, not an answer to the prompt.
        if raw is not None and not text.lstrip().lower().startswith(("http://", "https://")):
            return {"target": json.loads(raw).get("workspace_id")}
        if _looks_like_credentials(text):
            return {"target": None}
        return False


# --- connecting -----------------------------------------------------------------------------


async def connect(
    message: Message,
    command: CommandObject,
    workspace: Workspace,
    role: Role,
    session: AsyncSession,
    bot: Bot,
    arq: ArqRedis,
    secrets: SecretBox | None,
    settings: Settings,
    _: Translator,
) -> None:
    user = message.from_user
    if user is None:
        return
    if workspace.kind is WorkspaceKind.GROUP:
        if command.args:
            # Whoever typed them, secrets do not stay in a group's history.
            with contextlib.suppress(TelegramAPIError):
                await message.delete()
            await message.answer(_("zoom.group_secret_exposed"))
        if not role.is_admin:
            await message.answer(_("common.admins_only"))
            return
        target = {"workspace_id": workspace.id}
        await arq.set(_await_key(user.id), json.dumps(target), ex=AWAIT_TTL)
        me = await bot.me()
        await message.answer(
            _("zoom.group_send_privately", title=html.escape(workspace.title)),
            reply_markup=keyboards.open_private(_, f"https://t.me/{me.username}"),
        )
        return
    if not role.is_admin:
        await message.reply(_("common.admins_only"))
        return
    raw = await arq.get(_await_key(user.id))
    pending = json.loads(raw) if raw is not None else {"workspace_id": None}
    if command.args:
        await receive(
            message, command.args, pending.get("workspace_id"), workspace, session, bot, arq,
            secrets, settings, _,
        )  # fmt: skip
        return
    await arq.set(_await_key(user.id), json.dumps(pending), ex=AWAIT_TTL)
    text = _("zoom.connect_prompt")
    group = await _group(session, pending.get("workspace_id"))
    if group is not None:
        text += "\n\n" + _("zoom.connect_target", title=html.escape(group.title))
    await message.answer(text)


async def credentials_sent(
    message: Message,
    target: int | None,
    workspace: Workspace,
    session: AsyncSession,
    bot: Bot,
    arq: ArqRedis,
    secrets: SecretBox | None,
    settings: Settings,
    _: Translator,
) -> None:
    await receive(
        message, message.text or "", target, workspace, session, bot, arq, secrets, settings, _
    )


async def receive(
    message: Message,
    text: str,
    target_id: int | None,
    workspace: Workspace,
    session: AsyncSession,
    bot: Bot,
    arq: ArqRedis,
    secrets: SecretBox | None,
    settings: Settings,
    _: Translator,
) -> None:
    """Read, delete, check with Zoom, store encrypted."""
    user = message.from_user
    assert user is not None
    with contextlib.suppress(TelegramAPIError):
        await message.delete()
    creds = parse_credentials(text)
    if creds is None:
        await message.answer(_("zoom.unreadable"))
        return
    if secrets is None:
        await message.answer(_("zoom.no_secret_key"))
        return
    target = workspace
    group = await _group(session, target_id)
    if group is not None:
        member = await repo.get_member(session, group.id, user.id)
        if member is None or not member.role.is_admin:
            await arq.delete(_await_key(user.id))
            await message.answer(_("zoom.not_admin_there", title=html.escape(group.title)))
            return
        target = group

    status = await message.answer(_("zoom.checking"))
    try:
        account = await _check(settings, creds)
    except ZoomAuthError as exc:
        await _edit(status, _("zoom.refused", reason=html.escape(str(exc))))
        return
    except ZoomError:
        await _edit(status, _("zoom.unreachable"))
        return

    # Sending the same app again replaces it rather than adding a twin.
    for row in await repo.credentials(session, target.id, PROVIDER):
        with contextlib.suppress(SecretBoxError):
            if secrets.decrypt(row.payload).get("account_id") == creds.account_id:
                await session.delete(row)
    await repo.store_credential(
        session,
        target.id,
        secrets,
        provider=PROVIDER,
        account_name=account,
        payload=creds.payload(),
        created_by=user.id,
    )
    await repo.audit(
        session,
        target.id,
        user.id,
        "connection_added",
        PROVIDER,
        account=account,
        account_id=creds.account_id,
    )
    await session.commit()
    await arq.delete(_await_key(user.id))
    place = (
        _("zoom.workspace_group", title=html.escape(target.title))
        if target.kind is WorkspaceKind.GROUP
        else _("zoom.workspace_personal")
    )
    await _edit(status, _("zoom.connected", account=html.escape(account), workspace=place))
    if target.kind is WorkspaceKind.GROUP:
        group_ = Translator(target.language or _.lang)
        with contextlib.suppress(TelegramAPIError):
            await bot.send_message(
                target.chat_id,
                group_(
                    "zoom.connected_in_group",
                    admin=html.escape(user.full_name),
                    account=html.escape(account),
                ),
            )


async def _check(settings: Settings, creds: Credentials) -> str:
    """Ask Zoom for a token with these credentials; returns a name for the account."""
    async with ZoomClient(
        creds,
        api_url=settings.zoom_api_url,
        oauth_url=settings.zoom_oauth_url,
        retry_delays=(1.0, 3.0),
    ) as client:
        await client.token()
        try:
            me = await client.me()
        except ZoomError:
            # The app may lack the user:read scope; the recordings still work without it.
            return creds.account_id
    return str(me.get("email") or creds.account_id)


async def _group(session: AsyncSession, workspace_id: int | None) -> Workspace | None:
    if not workspace_id:
        return None
    found = await session.get(Workspace, int(workspace_id))
    return found if found is not None and found.kind is WorkspaceKind.GROUP else None


async def _edit(message: Message, text: str) -> None:
    with contextlib.suppress(TelegramAPIError):
        await message.edit_text(text)


async def pasted_in_group(message: Message, _: Translator) -> None:
    """Credentials typed into a group: gone at once, and the group is told to replace them."""
    with contextlib.suppress(TelegramAPIError):
        await message.delete()
    await message.answer(_("zoom.group_secret_exposed"))


# --- listing and importing ------------------------------------------------------------------


def _limits(settings: Settings, workspace: Workspace) -> tuple[int, float, float]:
    own = workspace.settings or {}

    def value(name: str, default: float) -> float:
        try:
            return float(own.get(name, getattr(settings, name, default)))
        except (TypeError, ValueError):
            return default

    return (
        int(value("zoom_list_days", LIST_DAYS)),
        value("zoom_min_minutes", MIN_MINUTES),
        value("zoom_min_mb", MIN_MB),
    )


async def list_recordings(
    message: Message,
    workspace: Workspace,
    role: Role,
    session: AsyncSession,
    arq: ArqRedis,
    secrets: SecretBox | None,
    settings: Settings,
    lang: str,
    _: Translator,
) -> None:
    if not role.is_admin:
        await message.reply(_("common.admins_only"))
        return
    rows = await repo.credentials(session, workspace.id, PROVIDER)
    if not rows:
        await message.answer(_("zoom.none_connected"))
        return
    if secrets is None:
        await message.answer(_("zoom.no_secret_key"))
        return
    status = await message.answer(_("zoom.loading"))
    days, minutes, mb = _limits(settings, workspace)
    today = datetime.now(UTC).date()
    found: list[tuple[int, str, ZoomRecording]] = []
    problems: list[str] = []
    for row in rows:
        account = html.escape(row.account_name or f"#{row.id}")
        try:
            creds = Credentials.from_payload(secrets.decrypt(row.payload))
            async with ZoomClient(
                creds,
                api_url=settings.zoom_api_url,
                oauth_url=settings.zoom_oauth_url,
                retry_delays=(1.0, 3.0),
            ) as client:
                listed = await client.list_recordings(
                    today - timedelta(days=days - 1),
                    today,
                    min_duration=minutes * 60,
                    min_size=int(mb * 1024 * 1024),
                )
        except (ZoomAuthError, SecretBoxError):
            problems.append(_("zoom.account_refused", account=account))
            continue
        except ZoomError:
            problems.append(_("zoom.account_unreachable", account=account))
            continue
        found += [(row.id, row.account_name, r) for r in listed]
    found.sort(key=lambda item: item[2].start_time, reverse=True)
    found = found[:LIST_LIMIT]

    done = await imported_meetings(session, workspace.id, [r.uuid for _c, _a, r in found])
    lines = [_("zoom.list_title", days=days)] if found else []
    buttons: list[tuple[int, str, str]] = []
    for number, (credential_id, account_name, rec) in enumerate(found, 1):
        if rec.processing or rec.file is None:
            mark = _("zoom.mark_processing")
        elif rec.uuid in done:
            mark = _("zoom.mark_imported")
        else:
            mark = ""
            key = token_urlsafe(9)
            item = {"account": account_name, "options": rec.options(credential_id)}
            await arq.set(_pick_key(workspace.id, key), json.dumps(item), ex=PICK_TTL)
            buttons.append((number, rec.topic, key))
        lines.append(
            _(
                "zoom.list_line",
                n=number,
                date=rec.start_time.strftime("%d.%m.%Y %H:%M"),
                topic=html.escape(rec.topic),
                duration=duration(rec.duration),
                size=size(lang, rec.file.size) if rec.file and rec.file.size else "—",
                mark=mark,
            )
        )
    if not found and not problems:
        lines.append(_("zoom.list_empty", days=days, minutes=f"{minutes:g}", mb=f"{mb:g}"))
    lines += problems
    if buttons:
        lines += ["", _("zoom.list_hint")]
    await status.edit_text("\n".join(lines), reply_markup=keyboards.recordings(_, buttons))


async def pick(
    query: CallbackQuery,
    callback_data: ZoomPickCb,
    workspace: Workspace,
    role: Role,
    session: AsyncSession,
    arq: ArqRedis,
    lang: str,
    _: Translator,
) -> None:
    if not role.is_admin:
        await query.answer(_("common.admins_only"), show_alert=True)
        return
    # Taken, not read: two presses at once must not import the recording twice.
    raw = await arq.getdel(_pick_key(workspace.id, callback_data.key))
    if raw is None:
        await query.answer(_("zoom.list_expired"), show_alert=True)
        return
    item = json.loads(raw)
    options = dict(item.get("options") or {})
    found = ZoomRecording.from_options(options)
    credential_id = int(options.get("credential_id") or 0)
    owned = {row.id for row in await repo.credentials(session, workspace.id, PROVIDER)}
    if credential_id not in owned or found.file is None:
        await query.answer(_("zoom.list_expired"), show_alert=True)
        return
    if await imported_meetings(session, workspace.id, [found.uuid]):
        await query.answer(_("zoom.already_imported"), show_alert=True)
        return
    anchor = query.message if isinstance(query.message, Message) else None
    chat_id = anchor.chat.id if anchor is not None else workspace.chat_id
    recording = await repo.create_recording(
        session,
        workspace.id,
        created_by=query.from_user.id,
        source_kind=SourceKind.ZOOM,
        source_ref=found.ref,
        source_name=found.topic[:512],
        source_size=found.file.size or None,
        source_ext=safe_ext(found.file.extension or "mp4"),
        language=lang,
        chat_id=chat_id,
        thread_id=anchor.message_thread_id
        if anchor is not None and anchor.is_topic_message
        else None,
        options={
            "zoom": options,
            "facts": {
                "title": found.topic,
                "date": found.start_time.date().isoformat(),
                "source_kind": SourceKind.ZOOM.value,
                "account": str(item.get("account") or ""),
            },
        },
        stage="fetch",
    )
    await repo.stage_run(session, workspace.id, recording.id, "fetch")
    await repo.audit(
        session,
        workspace.id,
        query.from_user.id,
        "zoom_import",
        f"recording:{recording.id}",
        meeting=found.uuid,
        file=found.file.id,
        automatic=False,
    )
    text = _("intake.queued", name=html.escape(found.topic))
    if anchor is not None:
        progress = await anchor.answer(text)
        recording.progress_message_id = progress.message_id
    # The worker must find the row, so commit before handing the work over.
    await session.commit()
    await enqueue_stage(arq, workspace.id, recording.id, "fetch")
    await query.answer(_("zoom.queued"))
    log.info("recording %s queued from Zoom in workspace %s", recording.id, workspace.id)


def make_router() -> Router:
    router = Router(name=__name__)
    router.message.register(connect, Command("zoom_connect"))
    router.message.register(list_recordings, Command("zoom"))
    router.message.register(
        credentials_sent, F.chat.type == ChatType.PRIVATE, F.text, ExpectingCredentials()
    )
    router.message.register(
        pasted_in_group,
        F.chat.type.in_({ChatType.GROUP, ChatType.SUPERGROUP}),
        F.text.func(_looks_like_credentials),
    )
    router.callback_query.register(pick, ZoomPickCb.filter())
    return router
