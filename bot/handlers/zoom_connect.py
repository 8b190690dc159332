"""Connecting Zoom accounts: credentials sent in a private chat, for a workspace.

An admin sends the credentials of a Zoom Server-to-Server OAuth app (account id, client id,
client secret) in a private chat. The message is deleted as soon as it is read, the
credentials are tried at once by asking Zoom for a token, and they are stored encrypted
(`jobs.zoom_accounts`). Waiting for them takes only messages that look like them; whatever
else the person writes meanwhile (an answer to another prompt, a link) is handled as if nobody
waited, and a message that looked like credentials but could not be read ends the wait.

Which workspace an account serves: the one the admin asked from. `/zoom_connect` in a private
chat connects the admin's personal workspace. In a group, the bot never takes secrets; it
remembers for a quarter of an hour that this admin wants Zoom for this group and asks for the
credentials in the private chat, where they then connect the group (`AdminThere` checks the
sender's role in that group again when they arrive). Credentials typed into a group are
deleted, whoever typed them.

Only admins connect: the router says so with `IsAdmin()`, and its refusal router answers
everyone else.
"""

from __future__ import annotations

import contextlib
import html
import re
from typing import Any

from aiogram import Bot, F, Router
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import BaseFilter, Command, CommandObject
from aiogram.types import Message
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession

from bot.conversation import Ask, Conversations, with_way_out
from bot.filters import AdminThere, InGroup, IsAdmin
from bot.keyboards import zoom as keyboards
from integrations.zoom import Credentials, ZoomAuthError, ZoomError
from jobs import zoom_accounts
from leap.settings import Settings
from locales import Translator
from storage.crypto import SecretBox
from storage.models import Workspace, WorkspaceKind

# The prompt after /zoom_connect: answered in the person's private chat, for the workspace
# (`workspace_id`, None for their own) of the chat it was asked in (`origin`).
CREDENTIALS = "zoom_credentials"

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


def _key_like(word: str) -> bool:
    """A generated id or secret rather than a word: long, with digits or capitals inside."""
    if len(word) < 8 or not _VALUE.fullmatch(word):
        return False
    return any(c.isdigit() for c in word) or any(c.isupper() for c in word[1:])


def _answers_connect_prompt(text: str) -> bool:
    """Credentials as a person sends them after /zoom_connect: labelled, or bare values.

    Bare, they are two to four generated-looking values, never words: a title typed for
    another prompt or a remark meanwhile is not the answer.
    """
    if _looks_like_credentials(text):
        return True
    words = text.split()
    return 2 <= len(words) <= 4 and all(_key_like(word) for word in words)


# --- connecting -----------------------------------------------------------------------------


class PendingConnect(BaseFilter):
    """Where credentials sent privately go now, handed over as `target` and `asked`.

    `target` is the group whose admin asked with /zoom_connect, or None for the sender's
    personal workspace; `asked` says whether the /zoom_connect prompt is what this message
    answers: a reply to it, or a plain message while it is the newest, fresh prompt.
    """

    async def __call__(
        self, message: Message, session: AsyncSession, arq: ArqRedis
    ) -> bool | dict[str, Any]:
        if message.from_user is None:
            return False
        replied = message.reply_to_message
        prompt = replied.message_id if replied is not None else None
        ask = await Conversations(arq).get(message.chat.id, message.from_user.id, prompt)
        if ask is None or ask.kind != CREDENTIALS:
            # The earlier /zoom_connect may still be open behind a newer prompt: its group
            # is where labelled credentials go.
            found = await Conversations(arq).all(message.chat.id, message.from_user.id)
            earlier = [a for a in found if a.kind == CREDENTIALS]
            pending = earlier[0].data.get("workspace_id") if earlier else None
            return {"target": await _group(session, pending), "asked": False}
        pending = ask.data.get("workspace_id")
        return {"target": await _group(session, pending), "asked": True}


class ExpectingCredentials(BaseFilter):
    """A private text that carries Zoom credentials; hands it over as `secret`.

    Comes after `PendingConnect`. Labelled values are taken whenever they come; bare ones only
    while the bot waits after /zoom_connect. Anything else (a title for an open prompt, a
    link) goes on to the routers after this one.
    """

    async def __call__(self, message: Message, asked: bool = False) -> bool | dict[str, Any]:
        text = message.text or ""
        if not text or text.startswith("/"):
            return False
        taken = _answers_connect_prompt(text) if asked else _looks_like_credentials(text)
        return {"secret": text} if taken else False


async def _expect_credentials(
    arq: ArqRedis, user_id: int, workspace_id: int | None, origin: int, prompt: int = 0
) -> None:
    """Remember which workspace this person's next credentials are for; they come privately."""
    ask = Ask(CREDENTIALS, data={"workspace_id": workspace_id, "origin": origin})
    await Conversations(arq).close_kind(user_id, user_id, CREDENTIALS)
    await Conversations(arq).open(user_id, user_id, prompt, ask)


async def _forget(message: Message) -> None:
    """Delete a message that carried (or may have carried) secrets; gone already is fine."""
    with contextlib.suppress(TelegramAPIError):
        await message.delete()


async def connect_in_group(
    message: Message,
    command: CommandObject,
    workspace: Workspace,
    bot: Bot,
    arq: ArqRedis,
    _: Translator,
) -> None:
    if command.args:
        await pasted_in_group(message, _)
    if message.from_user is None:
        return
    await _expect_credentials(arq, message.from_user.id, workspace.id, message.chat.id)
    me = await bot.me()
    await message.answer(
        _("zoom.group_send_privately", title=html.escape(workspace.title)),
        reply_markup=keyboards.open_private(_, f"https://t.me/{me.username}"),
    )


async def connect_in_private(
    message: Message, target: Workspace | None, arq: ArqRedis, _: Translator
) -> None:
    if message.from_user is None:
        return
    text = _("zoom.connect_prompt")
    if target is not None:
        text += "\n\n" + _("zoom.connect_target", title=html.escape(target.title))
    sent = await message.answer(with_way_out(_, text))
    # Asking again keeps the group an earlier /zoom_connect there chose.
    user = message.from_user
    await _expect_credentials(
        arq, user.id, target.id if target else None, message.chat.id, sent.message_id
    )


async def refuse_connect(
    message: Message, command: CommandObject, workspace: Workspace, _: Translator
) -> None:
    if workspace.kind is WorkspaceKind.GROUP:
        # Whoever typed them, secrets do not stay in a group's history.
        if command.args:
            await pasted_in_group(message, _)
        await message.answer(_("common.admins_only"))
    else:
        await message.reply(_("common.admins_only"))


async def credentials_sent(
    message: Message,
    secret: str,
    target: Workspace | None,
    workspace: Workspace,
    session: AsyncSession,
    bot: Bot,
    arq: ArqRedis,
    secrets: SecretBox | None,
    settings: Settings,
    _: Translator,
) -> None:
    """Read, delete, check with Zoom, store encrypted; for the group asked for, else here."""
    target = target or workspace
    user = message.from_user
    assert user is not None
    await _forget(message)
    creds = parse_credentials(secret)
    if creds is None:
        # One miss ends the wait: the person's next messages are theirs again, and the
        # answer says how to start over.
        await Conversations(arq).close_kind(user.id, user.id, CREDENTIALS)
        if target.kind is WorkspaceKind.GROUP:
            await message.answer(_("zoom.unreadable_group", title=html.escape(target.title)))
        else:
            await message.answer(_("zoom.unreadable"))
        return
    if secrets is None:
        await message.answer(_("zoom.no_secret_key"))
        return

    status = await message.answer(_("zoom.checking"))
    try:
        account = await zoom_accounts.check(settings, creds)
    except ZoomAuthError as exc:
        await _edit(status, _("zoom.refused", reason=html.escape(str(exc))))
        return
    except ZoomError:
        await _edit(status, _("zoom.unreachable"))
        return
    await zoom_accounts.connect(session, target.id, secrets, creds, account, user.id)
    await Conversations(arq).close_kind(user.id, user.id, CREDENTIALS)
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


async def credentials_refused(
    message: Message, target: Workspace | None, arq: ArqRedis, _: Translator
) -> None:
    """Credentials for a group where the sender is not (or no longer) an admin."""
    await _forget(message)
    if message.from_user is not None:
        await Conversations(arq).close_kind(message.from_user.id, message.from_user.id, CREDENTIALS)
    title = target.title if target is not None else ""
    await message.answer(_("zoom.not_admin_there", title=html.escape(title)))


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
    await _forget(message)
    await message.answer(_("zoom.group_secret_exposed"))


def make_router() -> Router:
    router = Router(name=__name__)

    # Credentials arrive in a private chat, typed after /zoom_connect or on their own. The
    # group they are meant for (if any) decides who may send them.
    private = Router(name=f"{__name__}.private")
    private.message.filter(F.chat.type == ChatType.PRIVATE, PendingConnect())
    typed = (Command("zoom_connect", magic=F.args.as_("secret")),)
    pasted = (F.text, ExpectingCredentials())
    for carrier in (typed, pasted):
        private.message.register(credentials_sent, *carrier, AdminThere())
        private.message.register(credentials_refused, *carrier)

    admin = Router(name=f"{__name__}.admin")
    admin.message.filter(IsAdmin())
    admin.message.register(connect_in_group, Command("zoom_connect"), InGroup())
    admin.message.register(connect_in_private, Command("zoom_connect"), PendingConnect())

    refused = Router(name=f"{__name__}.refused")
    refused.message.register(refuse_connect, Command("zoom_connect"))

    exposed = Router(name=f"{__name__}.exposed")
    exposed.message.register(
        pasted_in_group,
        F.chat.type.in_({ChatType.GROUP, ChatType.SUPERGROUP}),
        F.text.func(_looks_like_credentials),
    )

    router.include_routers(private, admin, refused, exposed)
    return router
