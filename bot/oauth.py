"""Sign-ins to YouTube (Google OAuth), VK (VK ID) and Yandex, and download links for exports.

A sign-in is finished only by the person who started it, and nothing is stored until they say so:

1. `begin` keeps a pending sign-in in Redis under a fresh random state for ten minutes, bound to
   the workspace, the person and the chat that asked, with the PKCE verifier that never leaves
   the server; it returns the consent page's address. In a group that address goes to the
   person in a private message, never into the group (bot/handlers/connections.py).
2. The provider sends the browser to ``PUBLIC_BASE_URL/oauth/<ROUTES>/callback``. Without a
   public address the redirect goes to this machine's loopback address, which the browser
   usually cannot open, so the starter pastes the address into the chat instead; a pasted
   address is taken only from the person who started that sign-in.
3. `finish` reads the pending sign-in without removing it, exchanges the code and reads who
   the account is (the YouTube channel's title, the VK person's name). A code that does not
   work (forged, spent, refused) leaves the state usable for the real callback. Only then is
   the state claimed, by one atomic delete: of two callbacks that both got tokens, one goes
   on and the other is told the link was used.
4. The tokens wait, encrypted with the SecretBox, as a confirmation in Redis for ten minutes,
   and the chat that started the sign-in is asked "Connect X?" with Confirm and Cancel. The
   buttons answer only the starter (the handlers check); `take_confirmation` removes it in the
   same step it reads it, and only a Confirm calls `store`, which replaces the workspace's
   account of that provider and writes the audit event naming the starter and the account.

Someone who gets hold of the consent link and approves with their own account therefore gets
no further than a question in the chat that only the starter can answer.

The web routes answer the browser with a short page in the person's language; a state that
is unknown, spent or expired gets a page saying so and nothing is stored.
"""

from __future__ import annotations

import asyncio
import hmac
import html
import json
import logging
import secrets as random
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import InlineKeyboardMarkup
from aiohttp import web
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from bot.keyboards import connections as keyboards
from bot.web import DEPS
from integrations import export, google_oauth, vk_oauth
from integrations.vk import VkError
from integrations.yandex import oauth as yandex_oauth
from integrations.youtube import AsyncYouTube, YouTube, YouTubeError
from jobs import keys
from leap.settings import Settings
from locales import Translator, choose_language, gettext
from storage import repo
from storage.crypto import SecretBox, SecretBoxError

log = logging.getLogger(__name__)


def _esc(text: str) -> str:
    # Text between tags only: quotes stay as typed.
    return html.escape(text, quote=False)


STATE_TTL = 600
CONFIRM_TTL = 600
# The path segment of each provider's callback route.
ROUTES = {"youtube": "google", "vk": "vk", "yandex": "yandex"}


@dataclass(frozen=True)
class PendingSignIn:
    provider: str
    state: str
    workspace_id: int
    user_id: int
    chat_id: int
    thread_id: int | None
    lang: str
    verifier: str
    redirect_uri: str
    # Shown to everyone else who presses the confirmation's buttons.
    user_name: str = ""


@dataclass(frozen=True)
class SignedIn:
    """A consent whose code worked, waiting for its starter's Confirm; nothing is stored yet."""

    key: str
    provider: str
    workspace_id: int
    user_id: int
    user_name: str
    chat_id: int
    thread_id: int | None
    lang: str
    account: str
    payload: dict[str, Any] = field(repr=False)


class SignInError(Exception):
    """A sign-in that cannot be finished; `key` names the message that says why."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


def _state_key(provider: str, state: str) -> str:
    return keys.oauth_state(provider, state)


def _confirm_key(key: str) -> str:
    return keys.oauth_confirm(key)


def redirect_uri(settings: Settings, provider: str) -> str:
    base = settings.public_base_url or f"http://127.0.0.1:{settings.web_port}"
    return f"{base.rstrip('/')}/oauth/{ROUTES[provider]}/callback"


def configured(settings: Settings, provider: str) -> bool:
    if provider == "youtube":
        return bool(settings.youtube_client_id and settings.youtube_client_secret)
    if provider == "vk":
        return bool(settings.vk_client_id)
    if provider == "yandex":
        return bool(settings.yandex_client_id and settings.yandex_client_secret)
    return True


async def begin(
    settings: Settings,
    redis: Redis,
    provider: str,
    *,
    workspace_id: int,
    user_id: int,
    user_name: str,
    chat_id: int,
    thread_id: int | None,
    lang: str,
    scopes: tuple[str, ...] = google_oauth.YOUTUBE_SCOPES,
) -> tuple[str, str]:
    """Start a sign-in; returns its state and the consent page's address.

    `scopes` adds to YouTube's what a feature asks for when first needed (Drive's read access).
    """
    redirect = redirect_uri(settings, provider)
    if provider == "youtube":
        verifier, _challenge = google_oauth.new_pkce()
        state = google_oauth.new_state()
        url = google_oauth.authorization_url(
            settings.youtube_client_id or "",
            redirect,
            state,
            verifier,
            auth_url=settings.google_auth_url,
            scopes=scopes,
        )
    elif provider == "vk":
        verifier, challenge = vk_oauth.new_pkce()
        state = vk_oauth.new_state()
        url = vk_oauth.authorization_url(
            settings.vk_client_id or "", redirect, state, challenge, oauth_url=settings.vk_oauth_url
        )
    elif provider == "yandex":
        verifier, challenge = yandex_oauth.new_pkce()
        state = yandex_oauth.new_state()
        url = yandex_oauth.authorization_url(
            settings.yandex_client_id or "",
            redirect,
            state,
            challenge,
            oauth_url=settings.yandex_oauth_url,
        )
    else:
        raise ValueError(f"no sign-in for {provider!r}")
    pending = PendingSignIn(
        provider=provider,
        state=state,
        workspace_id=workspace_id,
        user_id=user_id,
        chat_id=chat_id,
        thread_id=thread_id,
        lang=lang,
        verifier=verifier,
        redirect_uri=redirect,
        user_name=user_name,
    )
    await redis.set(_state_key(provider, state), json.dumps(asdict(pending)), ex=STATE_TTL)
    return state, url


async def forget(redis: Redis, provider: str, state: str) -> None:
    """Drop a pending sign-in whose link never reached its person."""
    await redis.delete(_state_key(provider, state))


async def peek(redis: Redis, provider: str, state: str) -> PendingSignIn | None:
    raw = await redis.get(_state_key(provider, state))
    return _pending(raw)


async def _claim(redis: Redis, pending: PendingSignIn) -> bool:
    """Use the state up; True for exactly one caller, however many ask at once."""
    return bool(await redis.delete(_state_key(pending.provider, pending.state)))


def _pending(raw: bytes | str | None) -> PendingSignIn | None:
    if not raw:
        return None
    try:
        return PendingSignIn(**json.loads(raw))
    except (TypeError, ValueError):
        return None


# --- finishing a sign-in ------------------------------------------------------------------


async def finish(
    pending: PendingSignIn,
    url: str,
    *,
    settings: Settings,
    secrets: SecretBox | None,
    bot: Bot,
    redis: Redis,
) -> tuple[bool, str]:
    """Exchange the code in `url` and ask the chat to confirm the account; (asked, message).

    On failure the message says why, in the starter's language, and is for the caller to show
    (the browser's page, or a reply to the pasted address): a forged code must not be able to
    fill a group with messages.
    """
    name = gettext(pending.lang, f"connect.provider.{pending.provider}")
    if secrets is None:
        return False, gettext(pending.lang, "connect.error.no_secret_key", provider=name)
    try:
        if pending.provider == "youtube":
            account, payload = await _google_account(pending, url, settings)
        elif pending.provider == "yandex":
            account, payload = await _yandex_account(pending, url, settings)
        else:
            account, payload = await _vk_account(pending, url, settings)
        # Everything up to here leaves the state as it was; from here on it is ours alone.
        if not await _claim(redis, pending):
            raise SignInError("connect.error.expired_link")
    except SignInError as exc:
        return False, gettext(pending.lang, exc.key, provider=name, **exc.params)
    except Exception:
        log.exception("%s sign-in for chat %s failed", pending.provider, pending.chat_id)
        return False, gettext(pending.lang, "connect.error.unreachable", provider=name)
    signed = SignedIn(
        key=random.token_urlsafe(12),
        provider=pending.provider,
        workspace_id=pending.workspace_id,
        user_id=pending.user_id,
        user_name=pending.user_name,
        chat_id=pending.chat_id,
        thread_id=pending.thread_id,
        lang=pending.lang,
        account=account,
        payload=payload,
    )
    await redis.set(_confirm_key(signed.key), secrets.encrypt(asdict(signed)), ex=CONFIRM_TTL)
    _ = Translator(pending.lang)
    question = _(
        f"connect.confirm.{pending.provider}",
        account=_esc(account),
        name=_esc(pending.user_name or str(pending.user_id)),
    )
    await say(
        bot, pending.chat_id, pending.thread_id, question, keyboards.confirm_sign_in(_, signed.key)
    )
    return True, gettext(pending.lang, "oauth.page_confirm_text")


async def confirmation(redis: Redis, box: SecretBox, key: str) -> SignedIn | None:
    """The sign-in waiting for a Confirm under `key`, left in place."""
    return _signed_in(box, await redis.get(_confirm_key(key)))


async def take_confirmation(redis: Redis, box: SecretBox, key: str) -> SignedIn | None:
    """The sign-in waiting under `key`, removed in the same step: one answer per question."""
    return _signed_in(box, await redis.getdel(_confirm_key(key)))


def _signed_in(box: SecretBox, raw: bytes | str | None) -> SignedIn | None:
    if not raw:
        return None
    try:
        return SignedIn(**box.decrypt(raw.decode() if isinstance(raw, bytes) else raw))
    except (SecretBoxError, TypeError, ValueError):
        return None


async def say(
    bot: Bot,
    chat_id: int,
    thread_id: int | None,
    text: str,
    markup: InlineKeyboardMarkup | None = None,
) -> None:
    try:
        await bot.send_message(chat_id, text, message_thread_id=thread_id, reply_markup=markup)
    except TelegramAPIError as exc:
        log.warning("cannot tell chat %s about a connection: %s", chat_id, exc.message)


async def _google_account(
    pending: PendingSignIn, url: str, settings: Settings
) -> tuple[str, dict[str, Any]]:
    """The channel's title and what to store, from the code in `url`."""
    if not configured(settings, "youtube"):
        raise SignInError("connect.error.not_configured")
    try:
        code, state = google_oauth.parse_redirect(url)
    except google_oauth.OAuthDenied:
        raise SignInError("connect.error.declined") from None
    except google_oauth.OAuthError:
        raise SignInError("connect.error.refused") from None
    if not hmac.compare_digest(state.encode(), pending.state.encode()):
        raise SignInError("connect.error.expired")
    client_id = settings.youtube_client_id or ""
    client_secret = (
        settings.youtube_client_secret.get_secret_value() if settings.youtube_client_secret else ""
    )
    try:
        tokens = await google_oauth.exchange_code(
            code,
            pending.verifier,
            pending.redirect_uri,
            client_id=client_id,
            client_secret=client_secret,
            token_url=settings.google_token_url,
        )
    except google_oauth.OAuthTransient:
        raise SignInError("connect.error.unreachable") from None
    except google_oauth.OAuthError as exc:
        log.info("Google refused the authorization code: %s", exc.error)
        raise SignInError("connect.error.refused") from None
    if tokens.missing_scopes():
        raise SignInError("connect.error.scopes")
    if not tokens.refresh_token:
        raise SignInError("connect.error.refused")
    client = await asyncio.to_thread(
        YouTube.from_tokens,
        tokens,
        client_id=client_id,
        client_secret=client_secret,
        token_url=settings.google_token_url,
        api_url=settings.youtube_api_url,
        max_retries=2,
    )
    try:
        channel = await AsyncYouTube(client).channel_title()
    except YouTubeError as exc:
        if exc.reason == "noChannel":
            raise SignInError("connect.error.no_channel") from None
        log.info("YouTube refused to name the channel: %s", exc.reason)
        raise SignInError("connect.error.unreachable") from None
    payload = {
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token,
        "expires_at": tokens.expires_at.isoformat(),
        "scope": tokens.scope,
        "channel": channel,
    }
    return channel, payload


async def _vk_account(
    pending: PendingSignIn, url: str, settings: Settings
) -> tuple[str, dict[str, Any]]:
    """The person's name on VK and what to store, from the code in `url`."""
    if not configured(settings, "vk"):
        raise SignInError("connect.error.not_configured")
    try:
        landing = vk_oauth.parse_redirect(url, expected_state=pending.state)
    except vk_oauth.VkOAuthError as exc:
        if exc.error == "access_denied":
            raise SignInError("connect.error.declined") from None
        if exc.error == "invalid_state":
            raise SignInError("connect.error.expired") from None
        raise SignInError("connect.error.refused") from None
    try:
        tokens = await vk_oauth.exchange_code(
            landing.code,
            pending.verifier,
            landing.device_id,
            pending.redirect_uri,
            client_id=settings.vk_client_id or "",
            oauth_url=settings.vk_oauth_url,
            state=pending.state,
        )
    except VkError as exc:
        if exc.retryable:
            raise SignInError("connect.error.unreachable") from None
        raise SignInError("connect.error.refused") from None
    try:
        person = await vk_oauth.person_name(tokens.access_token, api_url=settings.vk_api_url)
    except VkError as exc:
        # The id alone still says whose account it is; the person checks it before confirming.
        log.info("VK did not name the signed-in person: %s", exc)
        person = ""
    account = f"{person} (id{tokens.user_id})" if person else f"id{tokens.user_id}"
    payload = {
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token,
        "expires_at": tokens.expires_at.isoformat(),
        "user_id": tokens.user_id,
        "device_id": tokens.device_id,
        "scope": list(tokens.scope),
    }
    return account, payload


async def _yandex_account(
    pending: PendingSignIn, url: str, settings: Settings
) -> tuple[str, dict[str, Any]]:
    """The Yandex account's name and what to store, from the code in `url`."""
    if not configured(settings, "yandex") or settings.yandex_client_secret is None:
        raise SignInError("connect.error.not_configured")
    try:
        return await yandex_oauth.sign_in(
            url,
            state=pending.state,
            verifier=pending.verifier,
            client_id=settings.yandex_client_id or "",
            client_secret=settings.yandex_client_secret.get_secret_value(),
            oauth_url=settings.yandex_oauth_url,
            api_url=settings.yandex_disk_api_url,
        )
    except yandex_oauth.SignInFailed as exc:
        raise SignInError(f"connect.error.{exc.reason}") from None


async def store(session: AsyncSession, box: SecretBox, signed: SignedIn) -> int:
    """Keep a confirmed account, in place of the workspace's old one; the credential's id."""
    # One account per provider and workspace: connecting again replaces the old one. The old
    # grant is not revoked, because Google revokes a whole grant and a reconnect of the same
    # account shares it with the new tokens.
    for old in await repo.credentials(session, signed.workspace_id, signed.provider):
        await session.delete(old)
    credential = await repo.store_credential(
        session,
        signed.workspace_id,
        box,
        provider=signed.provider,
        account_name=signed.account[:255],
        payload=signed.payload,
        created_by=signed.user_id,
    )
    await repo.audit(
        session,
        signed.workspace_id,
        signed.user_id,
        "connection_added",
        signed.provider,
        account=signed.account,
    )
    return credential.id


# --- the web routes -----------------------------------------------------------------------


def _page(lang: str, title_key: str, text: str, status: int = 200) -> web.Response:
    title = _esc(gettext(lang, title_key))
    body = (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title></head>"
        '<body style="font-family:sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem">'
        f"<h1>{title}</h1><p>{text}</p></body></html>"
    )
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")


def _browser_language(request: web.Request) -> str:
    header = request.headers.get("Accept-Language", "")
    first = header.split(",", 1)[0].split(";", 1)[0].strip()
    return choose_language(first or None)


def _callback(provider: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        deps = request.app[DEPS]
        lang = _browser_language(request)
        state = request.query.get("state", "")
        if not state:
            # VK ID's SDK may put everything into the fragment, which browsers never send.
            return _page(lang, "oauth.page_failed", gettext(lang, "oauth.page_no_state"), 400)
        pending = await peek(deps.redis, provider, state)
        if pending is None:
            return _page(lang, "oauth.page_failed", gettext(lang, "oauth.page_expired"), 400)
        ok, text = await finish(
            pending,
            str(request.url),
            settings=deps.settings,
            secrets=deps.secrets,
            bot=deps.bot,
            redis=deps.redis,
        )
        if ok:
            return _page(pending.lang, "oauth.page_confirm", text)
        return _page(pending.lang, "oauth.page_failed", text, 400)

    return handle


async def export_download(request: web.Request) -> web.StreamResponse:
    deps = request.app[DEPS]
    lang = _browser_language(request)
    secret = deps.settings.secret_key.get_secret_value() if deps.settings.secret_key else ""
    found = export.verify(export.link_key(secret), request.match_info["token"]) if secret else None
    if found is None:
        return _page(lang, "oauth.page_failed", gettext(lang, "publish.export.link_expired"), 410)
    workspace_id, recording_id = found
    # With media in a bucket the archive was made by an io worker, perhaps on another machine.
    path = await deps.store.fetch(workspace_id, recording_id, export.ARCHIVE)
    if not path.is_file():
        return _page(lang, "oauth.page_failed", gettext(lang, "publish.export.link_gone"), 404)
    log.info("export of recording %s downloaded", recording_id)
    return web.FileResponse(
        path,
        headers={
            "Content-Disposition": f'attachment; filename="lecture-{recording_id}.zip"',
            "Cache-Control": "private, no-store",
        },
    )


def setup(app: web.Application) -> None:
    """Add this module's routes to the bot's web application."""
    for provider, segment in ROUTES.items():
        app.router.add_get(f"/oauth/{segment}/callback", _callback(provider))
    app.router.add_get("/export/{token}", export_download)
