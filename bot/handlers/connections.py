"""Connecting the workspace's accounts: YouTube, VK, Yandex Disk, a Telegram channel.

Only admins connect and disconnect (in a private chat the person owns the workspace): the
router says so with `IsAdmin()`, and its refusal router answers everyone else. YouTube
and VK sign in through OAuth (bot/oauth.py); VK then asks which community the videos go to.
A Telegram channel needs no sign-in: the person forwards a post from it or names it, and the
bot checks that both it and the person may post there (a channel is someone's: the bot being
its administrator does not make it every workspace's).

A sign-in belongs to the admin who started it. In a group its consent link is sent to them in
a private message and never posted in the group; when the bot cannot write to them (they never
opened a chat with it, or blocked it), the group is told so with a button that opens the bot,
and the sign-in is dropped. A pasted redirect address is taken only from the starter, in the
chat of the sign-in or their own private chat. Once the provider has named the account, that
chat is asked to confirm it: the buttons answer only the starter (everyone else hears whose
question it is), the starter must still be an admin, and only Confirm stores the account.
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

from bot import oauth, provider_revoke
from bot.callbacks.connections import ConnectCb, DisconnectCb, SignInCb
from bot.conversation import Answering, Ask, Conversations, open_prompt, with_way_out
from bot.filters import IsAdmin, refusing, refusing_message
from bot.keyboards import connections as keyboards
from integrations import telegram_channel
from integrations.vk import VkAuthError, VkError, VkVideo
from leap.settings import Settings
from locales import Translator, choose_language
from storage import repo
from storage.crypto import SecretBox, SecretBoxError
from storage.models import Credential, Workspace, WorkspaceKind

log = logging.getLogger(__name__)


def _esc(text: str) -> str:
    # Text between tags only: quotes stay as typed.
    return html.escape(text, quote=False)


_URL = re.compile(r"\S+/oauth/(?:google|vk|yandex)/callback\S*")
_VK_HOST = re.compile(r"^(?:https?://)?(?:m\.)?vk\.(?:com|ru)/", re.IGNORECASE)
_VK_NUMBERED = re.compile(r"^(?:club|public|event)(\d+)$", re.IGNORECASE)
_VK_SCREEN_NAME = re.compile(r"^[A-Za-z0-9_.]{2,64}$")
# What everyone but an admin hears when they try to connect or disconnect anything.
REFUSAL = "connect.admins_only"
# What the bot asks for after /connect: the channel to post to, the VK community to upload to.
CHANNEL = "channel"
VK_GROUP = "vk_group"


class NotTheStarter(BaseFilter):
    """A press on a sign-in's Confirm or Cancel by anyone but its starter, or on one gone.

    Hands over `signed_in` (None when the question has expired or was answered). The starter's
    own press goes on to the admin router, which checks that they are still an admin.
    """

    async def __call__(
        self,
        query: CallbackQuery,
        callback_data: SignInCb,
        arq: ArqRedis,
        secrets: SecretBox | None,
    ) -> bool | dict[str, Any]:
        found = await oauth.confirmation(arq, secrets, callback_data.key) if secrets else None
        if found is not None and found.user_id == query.from_user.id:
            return False
        return {"signed_in": found}


def _thread(message: Message) -> int | None:
    return message.message_thread_id if message.is_topic_message else None


# --- /connect -------------------------------------------------------------------------------


async def connect(message: Message, settings: Settings, _: Translator) -> None:
    # Only what this installation can connect; a file export needs no connection at all.
    offered = tuple(p for p in keyboards.PROVIDERS if oauth.configured(settings, p))
    missing = [_(f"connect.provider.{p}") for p in keyboards.PROVIDERS if p not in offered]
    text = _("connect.menu")
    if missing:
        text += "\n\n" + _("connect.menu_missing", providers=", ".join(missing))
    text += "\n\n" + _("connect.menu_export")
    await message.answer(text, reply_markup=keyboards.connect_menu(_, offered))


async def connect_chosen(
    query: CallbackQuery,
    callback_data: ConnectCb,
    session: AsyncSession,
    workspace: Workspace,
    settings: Settings,
    bot: Bot,
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
        person = query.from_user
        prompt = _("connect.channel_prompt")
        await open_prompt(message, person.id, person.full_name, prompt, Ask(CHANNEL), arq, _)
        return
    if not oauth.configured(settings, provider):
        await message.answer(_("connect.error.not_configured", provider=name))
        return
    person = query.from_user
    state, url = await oauth.begin(
        settings,
        arq,
        provider,
        workspace_id=workspace.id,
        user_id=person.id,
        user_name=person.full_name,
        chat_id=message.chat.id,
        thread_id=_thread(message),
        lang=lang,
    )
    if workspace.kind is not WorkspaceKind.GROUP:
        await message.answer(
            _link_text(_, provider, settings), reply_markup=keyboards.authorize(_, provider, url)
        )
        return
    # Whoever opens the link can approve with their own account: it goes to the starter alone.
    privately = Translator(await _private_language(session, person.id, person.language_code))
    text = _link_text(privately, provider, settings)
    text += "\n\n" + privately("connect.link_for_group", title=_esc(workspace.title))
    try:
        await bot.send_message(
            person.id, text, reply_markup=keyboards.authorize(privately, provider, url)
        )
    except TelegramAPIError as exc:
        # 403 when they never opened a chat with the bot (or blocked it): the link goes nowhere.
        log.info("cannot send a sign-in link to user %s: %s", person.id, exc.message)
        await oauth.forget(arq, provider, state)
        me = await bot.me()
        await message.answer(
            _("connect.cannot_write", name=_esc(person.full_name)),
            reply_markup=keyboards.open_private(_, f"https://t.me/{me.username}?start=connect"),
        )
        return
    await message.answer(_("connect.sent_privately", name=_esc(person.full_name)))


def _link_text(_: Translator, provider: str, settings: Settings) -> str:
    text = _(f"connect.link.{provider}")
    if not settings.public_base_url:
        text += "\n\n" + _("connect.paste_hint")
    return text


async def _private_language(session: AsyncSession, user_id: int, code: str | None) -> str:
    """The language of the person's private chat with the bot, as far as it is known."""
    personal = await repo.workspace_by_chat(session, user_id)
    if personal is not None:
        member = await repo.get_member(session, personal.id, user_id)
        chosen = (member.language if member else None) or personal.language
        if chosen:
            return chosen
    return choose_language(code)


async def pasted_redirect(
    message: Message,
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
    # The starter pastes it where the sign-in began, or in their private chat with the link.
    if found.user_id != user_id or message.chat.id not in (found.chat_id, found.user_id):
        await message.answer(_("connect.error.not_yours"))
        return
    ok, text = await oauth.finish(
        found, url, settings=settings, secrets=secrets, bot=bot, redis=arq
    )
    if not ok:
        await message.answer(text)
    elif message.chat.id != found.chat_id:
        await message.answer(_("connect.confirm_there"))


def _state_of(url: str) -> str:
    parts = urlsplit(url)
    for chunk in (parts.query, parts.fragment):
        values = parse_qs(chunk).get("state")
        if values:
            return values[0]
    return ""


# --- the starter's answer to "Connect X?" -------------------------------------------------


async def sign_in_not_theirs(
    query: CallbackQuery, signed_in: oauth.SignedIn | None, _: Translator
) -> None:
    if signed_in is None:
        await query.answer(_("connect.confirm_expired"), show_alert=True)
        return
    name = signed_in.user_name or str(signed_in.user_id)
    await query.answer(_("connect.only_starter", name=name), show_alert=True)


async def sign_in_answered(
    query: CallbackQuery,
    callback_data: SignInCb,
    session: AsyncSession,
    workspace: Workspace,
    arq: ArqRedis,
    secrets: SecretBox | None,
    _: Translator,
) -> None:
    signed = await oauth.take_confirmation(arq, secrets, callback_data.key) if secrets else None
    if (
        signed is None
        or signed.user_id != query.from_user.id
        or signed.workspace_id != workspace.id
    ):
        await query.answer(_("connect.confirm_expired"), show_alert=True)
        return
    assert secrets is not None
    name = _(f"connect.provider.{signed.provider}")
    if callback_data.action != "ok":
        await query.answer()
        await _settle(query, _("connect.cancelled", provider=name))
        return
    credential_id = await oauth.store(session, secrets, signed)
    if signed.provider == "vk":
        # The question turns into the next one: which community the videos go to.
        text = with_way_out(_, _("connect.vk_done", account=_esc(signed.account)))
        if isinstance(query.message, Message):
            ask = Ask(VK_GROUP, data={"credential_id": credential_id})
            await Conversations(arq).open(
                signed.chat_id, signed.user_id, query.message.message_id, ask
            )
    elif signed.provider == "yandex":
        text = _("connect.yandex_done", account=_esc(signed.account))
    else:
        text = _("connect.youtube_done", channel=_esc(signed.account))
    await query.answer()
    await _settle(query, text)


async def _settle(query: CallbackQuery, text: str) -> None:
    """The question becomes its answer, without buttons."""
    if isinstance(query.message, Message):
        with contextlib.suppress(TelegramAPIError):
            await query.message.edit_text(text)


# --- Telegram channel -----------------------------------------------------------------------


def _names_a_channel(message: Message) -> bool:
    return message.forward_origin is not None or (
        telegram_channel.parse_channel_ref(message.text or "") is not None
    )


async def channel_named(
    message: Message,
    ask: Ask,
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
    await Conversations(arq).close(message.chat.id, message.from_user.id, ask.prompt)
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


def _names_a_vk_group(message: Message) -> bool:
    """A VK address or a community's number: an answer even where a link would be a lecture."""
    text = (message.text or "").strip()
    return bool(_VK_HOST.match(text) or _VK_NUMBERED.match(text) or re.fullmatch(r"-?\d+", text))


async def vk_group_named(
    message: Message,
    ask: Ask,
    session: AsyncSession,
    workspace: Workspace,
    settings: Settings,
    arq: ArqRedis,
    secrets: SecretBox | None,
    _: Translator,
) -> None:
    if message.from_user is None or secrets is None:
        return
    credential = await _credential(session, workspace.id, int(ask.data.get("credential_id", 0)))
    if credential is None or credential.provider != "vk":
        await Conversations(arq).close(message.chat.id, message.from_user.id, ask.prompt)
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
    await Conversations(arq).close(message.chat.id, message.from_user.id, ask.prompt)
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
        provider, account = credential.provider, credential.account_name
        withdrawn = await provider_revoke.withdraw(
            settings, provider, _payload(secrets, credential)
        )
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
        if not withdrawn and isinstance(query.message, Message):
            await query.message.answer(_(f"connections.not_revoked_{provider}"))
    if isinstance(query.message, Message):
        rows = await repo.credentials(session, workspace.id)
        with contextlib.suppress(TelegramAPIError):
            await query.message.edit_text(
                _connections_text(rows, secrets, _), reply_markup=keyboards.connections(_, rows)
            )


async def reply_refused(message: Message, ask: Ask, arq: ArqRedis, _: Translator) -> None:
    """An answer the bot waited for, from someone who is no longer an admin: the wait ends."""
    if message.from_user is not None:
        await Conversations(arq).close(message.chat.id, message.from_user.id, ask.prompt)
    await message.reply(_(REFUSAL))


def make_router() -> Router:
    router = Router(name=__name__)
    # A channel is named by its @username or by a post forwarded from it.
    named = Answering(CHANNEL, forwards=(CHANNEL,), unprompted=_names_a_channel)
    community = Answering(VK_GROUP, unprompted=_names_a_vk_group)
    awaited = ((named,), (community,))

    # Whoever started a sign-in finishes it; the pending sign-in says who that is, and everyone
    # else who presses its confirmation is told whose it is.
    anyone = Router(name=f"{__name__}.anyone")
    anyone.message.register(pasted_redirect, F.text.contains("/oauth/") & F.text.contains("state="))
    anyone.callback_query.register(sign_in_not_theirs, SignInCb.filter(), NotTheStarter())

    admin = Router(name=f"{__name__}.admin")
    admin.message.filter(IsAdmin())
    admin.callback_query.filter(IsAdmin())
    admin.message.register(connect, Command("connect"))
    admin.message.register(list_connections, Command("connections"))
    admin.callback_query.register(
        connect_chosen, ConnectCb.filter(F.provider.in_(keyboards.PROVIDERS))
    )
    admin.callback_query.register(disconnect, DisconnectCb.filter())
    admin.callback_query.register(sign_in_answered, SignInCb.filter())
    for handler, filters in zip((channel_named, vk_group_named), awaited, strict=True):
        admin.message.register(handler, *filters)

    refused = Router(name=f"{__name__}.refused")
    refused.message.register(refusing_message(REFUSAL), Command("connect", "connections"))
    refused.callback_query.register(refusing(REFUSAL), ConnectCb.filter())
    refused.callback_query.register(refusing(REFUSAL), DisconnectCb.filter())
    refused.callback_query.register(refusing(REFUSAL), SignInCb.filter())
    for filters in awaited:
        refused.message.register(reply_refused, *filters)

    router.include_routers(anyone, admin, refused)
    return router
