"""Connecting the workspace's accounts: YouTube, VK, a Telegram channel.

Only admins connect and disconnect (in a private chat the person owns the workspace): the
router says so with `IsAdmin()`, and its refusal router answers everyone else. YouTube
and VK sign in through OAuth (bot/oauth.py); VK then asks which community the videos go to.
A Telegram channel needs no sign-in: the person forwards a post from it or names it, and the
bot checks that both it and the person may post there (a channel is someone's: the bot being
its administrator does not make it every workspace's).
"""

from __future__ import annotations

import contextlib
import html
import logging
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import BaseFilter, Command
from aiogram.types import CallbackQuery, Message
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession

from bot import oauth
from bot.callbacks.connections import ConnectCb, DisconnectCb
from bot.filters import IsAdmin, refusing, refusing_message
from bot.keyboards import connections as keyboards
from integrations import google_oauth, telegram_channel
from integrations.vk import VkAuthError, VkError, VkVideo
from leap.settings import Settings
from locales import Translator
from storage import repo
from storage.crypto import SecretBox, SecretBoxError
from storage.models import Credential, Workspace

log = logging.getLogger(__name__)


def _esc(text: str) -> str:
    # Text between tags only: quotes stay as typed.
    return html.escape(text, quote=False)


_URL = re.compile(r"\S+/oauth/(?:google|vk)/callback\S*")
_VK_HOST = re.compile(r"^(?:https?://)?(?:m\.)?vk\.(?:com|ru)/", re.IGNORECASE)
_VK_NUMBERED = re.compile(r"^(?:club|public|event)(\d+)$", re.IGNORECASE)
_VK_SCREEN_NAME = re.compile(r"^[A-Za-z0-9_.]{2,64}$")
# What everyone but an admin hears when they try to connect or disconnect anything.
REFUSAL = "connect.admins_only"


class Awaiting(BaseFilter):
    """Passes a message from the person the bot asked for a `kind` of answer in this chat."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    async def __call__(self, message: Message, arq: ArqRedis) -> bool | dict[str, Any]:
        if message.from_user is None:
            return False
        data = await oauth.expected_reply(arq, message.chat.id, message.from_user.id)
        if data is None or data.get("kind") != self.kind:
            return False
        return {"awaited": data}


def _thread(message: Message) -> int | None:
    return message.message_thread_id if message.is_topic_message else None


# --- /connect -------------------------------------------------------------------------------


async def connect(message: Message, _: Translator) -> None:
    await message.answer(_("connect.menu"), reply_markup=keyboards.connect_menu(_))


async def connect_chosen(
    query: CallbackQuery,
    callback_data: ConnectCb,
    workspace: Workspace,
    settings: Settings,
    arq: ArqRedis,
    secrets: SecretBox | None,
    lang: str,
    _: Translator,
) -> None:
    message = query.message
    if not isinstance(message, Message):
        await query.answer()
        return
    provider = callback_data.provider
    name = _(f"connect.provider.{provider}")
    await query.answer()
    if secrets is None:
        await message.answer(_("connect.error.no_secret_key", provider=name))
        return
    if provider == "telegram":
        await oauth.expect_reply(arq, message.chat.id, query.from_user.id, "channel")
        await message.answer(_("connect.channel_prompt"))
        return
    if not oauth.configured(settings, provider):
        await message.answer(_("connect.error.not_configured", provider=name))
        return
    url = await oauth.begin(
        settings,
        arq,
        provider,
        workspace_id=workspace.id,
        user_id=query.from_user.id,
        chat_id=message.chat.id,
        thread_id=_thread(message),
        lang=lang,
    )
    text = _(f"connect.link.{provider}")
    if not settings.public_base_url:
        text += "\n\n" + _("connect.paste_hint")
    await message.answer(text, reply_markup=keyboards.authorize(_, provider, url))


async def pasted_redirect(
    message: Message,
    session: AsyncSession,
    settings: Settings,
    secrets: SecretBox | None,
    bot: Bot,
    arq: ArqRedis,
    _: Translator,
) -> None:
    """The address a browser was sent to after consent, pasted because nothing answered it."""
    match = _URL.search(message.text or "")
    url = match.group(0) if match else ""
    state = _state_of(url)
    found: oauth.PendingSignIn | None = None
    for provider in oauth.ROUTES:
        if state and (found := await oauth.peek(arq, provider, state)) is not None:
            break
    # The message carries a one-time code: it should not stay in the chat's history.
    with contextlib.suppress(TelegramAPIError):
        await message.delete()
    user_id = message.from_user.id if message.from_user else None
    if found is None:
        await message.answer(_("connect.error.expired_link"))
        return
    if found.chat_id != message.chat.id or found.user_id != user_id:
        await message.answer(_("connect.error.not_yours"))
        return
    pending = await oauth.take(arq, found.provider, found.state)
    if pending is None:
        await message.answer(_("connect.error.expired_link"))
        return
    await oauth.finish(
        pending, url, settings=settings, session=session, secrets=secrets, bot=bot, redis=arq
    )


def _state_of(url: str) -> str:
    parts = urlsplit(url)
    for chunk in (parts.query, parts.fragment):
        values = parse_qs(chunk).get("state")
        if values:
            return values[0]
    return ""


# --- Telegram channel -----------------------------------------------------------------------


async def channel_named(
    message: Message,
    session: AsyncSession,
    workspace: Workspace,
    bot: Bot,
    arq: ArqRedis,
    secrets: SecretBox | None,
    _: Translator,
) -> None:
    if message.from_user is None:
        return
    origin = message.forward_origin
    ref: int | str | None
    if origin is not None and origin.type == "channel":
        ref = origin.chat.id  # type: ignore[union-attr]
    else:
        ref = telegram_channel.parse_channel_ref(message.text or "")
    if ref is None:
        await message.reply(_("connect.channel_unknown_input"))
        return
    try:
        info = await telegram_channel.check_channel(bot, ref, person=message.from_user.id)
    except telegram_channel.ChannelError as exc:
        await message.reply(_(f"connect.channel_error.{exc.code}"))
        return
    if secrets is None:
        await message.reply(
            _("connect.error.no_secret_key", provider=_("connect.provider.telegram"))
        )
        return
    for old in await repo.credentials(session, workspace.id, "telegram"):
        await session.delete(old)
    await repo.store_credential(
        session,
        workspace.id,
        secrets,
        provider="telegram",
        account_name=info.title,
        payload={"chat_id": info.chat_id, "title": info.title, "username": info.username},
        created_by=message.from_user.id,
    )
    await repo.audit(
        session,
        workspace.id,
        message.from_user.id,
        "connection_added",
        "telegram",
        account=info.title,
        chat_id=info.chat_id,
    )
    await oauth.reply_received(arq, message.chat.id, message.from_user.id)
    await message.reply(_("connect.channel_done", title=_esc(info.title)))


# --- VK community ---------------------------------------------------------------------------


def parse_vk_group(text: str) -> int | str | None:
    """A community id from what a person typed: a link, club42, -42, 42 or a screen name."""
    value = _VK_HOST.sub("", text.strip()).strip("/ ").lstrip("@")
    value = value.split("?", 1)[0]
    if re.fullmatch(r"-?\d+", value):
        return abs(int(value)) or None
    numbered = _VK_NUMBERED.match(value)
    if numbered:
        return int(numbered.group(1))
    if _VK_SCREEN_NAME.match(value):
        return value
    return None


async def vk_group_named(
    message: Message,
    awaited: dict[str, Any],
    session: AsyncSession,
    workspace: Workspace,
    settings: Settings,
    arq: ArqRedis,
    secrets: SecretBox | None,
    _: Translator,
) -> None:
    if message.from_user is None or secrets is None:
        return
    credential = await _credential(session, workspace.id, int(awaited.get("credential_id", 0)))
    if credential is None or credential.provider != "vk":
        await oauth.reply_received(arq, message.chat.id, message.from_user.id)
        await message.reply(_("connect.error.expired_link"))
        return
    ref = parse_vk_group(message.text or "")
    if ref is None:
        await message.reply(_("connect.vk_group_unknown_input"))
        return
    payload = secrets.decrypt(credential.payload)
    vk = VkVideo(
        str(payload.get("access_token", "")), api_url=settings.vk_api_url, retry_delays=(1.0,)
    )
    try:
        group_id, name, is_admin = await _community(vk, ref)
    except VkAuthError:
        await message.reply(_("connect.vk_group_reconnect"))
        return
    except VkError as exc:
        key = "connect.vk_group_not_found" if exc.code == 100 else "connect.error.unreachable"
        await message.reply(_(key, provider=_("connect.provider.vk")))
        return
    finally:
        vk.close()
    if is_admin is False:
        await message.reply(_("connect.vk_group_not_admin", name=_esc(name)))
        return
    payload.update(group_id=group_id, group_name=name)
    credential.payload = secrets.encrypt(payload)
    credential.account_name = name[:255]
    await repo.audit(
        session,
        workspace.id,
        message.from_user.id,
        "connection_updated",
        "vk",
        account=name,
        group_id=group_id,
    )
    await oauth.reply_received(arq, message.chat.id, message.from_user.id)
    await message.reply(_("connect.vk_group_done", name=_esc(name)))


async def _community(vk: VkVideo, ref: int | str) -> tuple[int, str, bool | None]:
    """(id, name, whether the person administers it, when VK says) of a community."""
    response = await vk.call_async("groups.getById", group_id=ref)
    groups = response.get("groups", []) if isinstance(response, dict) else response
    group = next((g for g in groups or [] if isinstance(g, dict)), None)
    if group is None:
        raise VkError(100, "community not found")
    admin = group.get("is_admin")
    return int(group["id"]), str(group.get("name", "")), None if admin is None else bool(admin)


# --- /connections ---------------------------------------------------------------------------


async def list_connections(
    message: Message,
    session: AsyncSession,
    workspace: Workspace,
    secrets: SecretBox | None,
    _: Translator,
) -> None:
    rows = await repo.credentials(session, workspace.id)
    await message.answer(
        _connections_text(rows, secrets, _), reply_markup=keyboards.connections(_, rows)
    )


def _connections_text(rows: Sequence[Credential], secrets: SecretBox | None, _: Translator) -> str:
    if not rows:
        return _("connections.empty")
    lines = [_("connections.title")]
    for row in rows:
        note = ""
        payload = _payload(secrets, row)
        if payload.get("broken"):
            note = _("connections.broken")
        elif row.provider == "vk" and not payload.get("group_id"):
            note = _("connections.vk_no_group")
        lines.append(
            _(
                "connections.line",
                provider=_(f"connect.provider.{row.provider}"),
                name=_esc(row.account_name or "—"),
                note=note,
            )
        )
    return "\n".join(lines)


def _payload(secrets: SecretBox | None, row: Credential) -> dict[str, Any]:
    if secrets is None:
        return {}
    try:
        return secrets.decrypt(row.payload)
    except SecretBoxError:
        return {"broken": True}


async def _credential(
    session: AsyncSession, workspace_id: int, credential_id: int
) -> Credential | None:
    rows = await repo.credentials(session, workspace_id)
    return next((row for row in rows if row.id == credential_id), None)


async def disconnect(
    query: CallbackQuery,
    callback_data: DisconnectCb,
    session: AsyncSession,
    workspace: Workspace,
    settings: Settings,
    secrets: SecretBox | None,
    _: Translator,
) -> None:
    credential = await _credential(session, workspace.id, callback_data.credential_id)
    if credential is None:
        await query.answer(_("connections.already_gone"))
    else:
        if credential.provider == "youtube":
            await _revoke_google(settings, _payload(secrets, credential))
        provider, account = credential.provider, credential.account_name
        await session.delete(credential)
        await repo.audit(
            session,
            workspace.id,
            query.from_user.id,
            "connection_removed",
            provider,
            account=account,
        )
        await session.flush()
        await query.answer(_("connections.removed", provider=_(f"connect.provider.{provider}")))
    if isinstance(query.message, Message):
        rows = await repo.credentials(session, workspace.id)
        with contextlib.suppress(TelegramAPIError):
            await query.message.edit_text(
                _connections_text(rows, secrets, _), reply_markup=keyboards.connections(_, rows)
            )


async def _revoke_google(settings: Settings, payload: dict[str, Any]) -> None:
    token = payload.get("refresh_token") or payload.get("access_token")
    if not token:
        return
    try:
        await google_oauth.revoke(
            str(token), revoke_url=google_oauth.revoke_url_for(settings.google_token_url)
        )
    except google_oauth.OAuthError as exc:
        # The workspace asked to forget the account; Google keeping a grant does not stop that.
        log.warning("Google did not revoke the grant: %s", exc.error)


async def reply_refused(message: Message, arq: ArqRedis, _: Translator) -> None:
    """An answer the bot waited for, from someone who is no longer an admin: the wait ends."""
    if message.from_user is not None:
        await oauth.reply_received(arq, message.chat.id, message.from_user.id)
    await message.reply(_(REFUSAL))


def make_router() -> Router:
    router = Router(name=__name__)
    # A command while the bot waits for an answer is a command, not the answer.
    plain_text = F.text & ~F.text.startswith("/")
    awaited = (
        (F.forward_origin | plain_text, Awaiting("channel")),
        (plain_text, Awaiting("vk_group")),
    )

    # Whoever started a sign-in finishes it; the pending sign-in says who that is.
    anyone = Router(name=f"{__name__}.anyone")
    anyone.message.register(pasted_redirect, F.text.contains("/oauth/") & F.text.contains("state="))

    admin = Router(name=f"{__name__}.admin")
    admin.message.filter(IsAdmin())
    admin.callback_query.filter(IsAdmin())
    admin.message.register(connect, Command("connect"))
    admin.message.register(list_connections, Command("connections"))
    admin.callback_query.register(
        connect_chosen, ConnectCb.filter(F.provider.in_(keyboards.PROVIDERS))
    )
    admin.callback_query.register(disconnect, DisconnectCb.filter())
    for handler, filters in zip((channel_named, vk_group_named), awaited, strict=True):
        admin.message.register(handler, *filters)

    refused = Router(name=f"{__name__}.refused")
    refused.message.register(refusing_message(REFUSAL), Command("connect", "connections"))
    refused.callback_query.register(refusing(REFUSAL), ConnectCb.filter())
    refused.callback_query.register(refusing(REFUSAL), DisconnectCb.filter())
    for filters in awaited:
        refused.message.register(reply_refused, *filters)

    router.include_routers(anyone, admin, refused)
    return router
