"""Sign-ins to YouTube (Google OAuth) and VK (VK ID), and download links for exports.

`begin` keeps a pending sign-in in Redis under a fresh random state for ten minutes, bound to
the workspace, the person and the chat that asked, with the PKCE verifier that never leaves
the server; it returns the consent page's address for the person to open. The provider then
sends the browser to ``PUBLIC_BASE_URL/oauth/<google|vk>/callback``. Without a public
address the redirect goes to this machine's loopback address, which the person's browser
usually cannot open, so the person pastes the address from the browser into the chat
instead (bot/handlers/connections.py). Either way `take` removes the pending sign-in first,
so a state works once, and `finish` exchanges the code, stores the tokens encrypted, writes
an audit event and tells the chat.

The web routes answer the browser with a short page in the person's language; a state that
is unknown, spent or expired gets a page saying so and nothing is stored.
"""

from __future__ import annotations

import asyncio
import hmac
import html
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiohttp import web
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from bot.web import DEPS
from integrations import export, google_oauth, vk_oauth
from integrations.vk import VkError
from integrations.youtube import AsyncYouTube, YouTube, YouTubeError
from leap.settings import Settings
from locales import choose_language, gettext
from storage import repo
from storage.crypto import SecretBox

log = logging.getLogger(__name__)


def _esc(text: str) -> str:
    # Text between tags only: quotes stay as typed.
    return html.escape(text, quote=False)


STATE_TTL = 600
AWAIT_TTL = 600
# The path segment of each provider's callback route.
ROUTES = {"youtube": "google", "vk": "vk"}


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


class SignInError(Exception):
    """A sign-in that cannot be finished; `key` names the message that says why."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


def _state_key(provider: str, state: str) -> str:
    return f"leap:oauth:{provider}:{state}"


def redirect_uri(settings: Settings, provider: str) -> str:
    base = settings.public_base_url or f"http://127.0.0.1:{settings.web_port}"
    return f"{base.rstrip('/')}/oauth/{ROUTES[provider]}/callback"


def configured(settings: Settings, provider: str) -> bool:
    if provider == "youtube":
        return bool(settings.youtube_client_id and settings.youtube_client_secret)
    if provider == "vk":
        return bool(settings.vk_client_id)
    return True


async def begin(
    settings: Settings,
    redis: Redis,
    provider: str,
    *,
    workspace_id: int,
    user_id: int,
    chat_id: int,
    thread_id: int | None,
    lang: str,
) -> str:
    """Start a sign-in; returns the consent page's address."""
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
        )
    elif provider == "vk":
        verifier, challenge = vk_oauth.new_pkce()
        state = vk_oauth.new_state()
        url = vk_oauth.authorization_url(
            settings.vk_client_id or "", redirect, state, challenge, oauth_url=settings.vk_oauth_url
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
    )
    await redis.set(_state_key(provider, state), json.dumps(asdict(pending)), ex=STATE_TTL)
    return url


async def peek(redis: Redis, provider: str, state: str) -> PendingSignIn | None:
    raw = await redis.get(_state_key(provider, state))
    return _pending(raw)


async def take(redis: Redis, provider: str, state: str) -> PendingSignIn | None:
    """The pending sign-in for `state`, removed in the same step so it cannot be used twice."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.get(_state_key(provider, state))
        pipe.delete(_state_key(provider, state))
        raw, _deleted = await pipe.execute()
    return _pending(raw)


def _pending(raw: bytes | str | None) -> PendingSignIn | None:
    if not raw:
        return None
    try:
        return PendingSignIn(**json.loads(raw))
    except (TypeError, ValueError):
        return None


# --- a question the bot asked and waits for in the chat ----------------------------------


def _await_key(chat_id: int, user_id: int) -> str:
    return f"leap:connect:await:{chat_id}:{user_id}"


async def expect_reply(redis: Redis, chat_id: int, user_id: int, kind: str, **data: Any) -> None:
    """Remember that the bot asked this person in this chat for a `kind` of answer."""
    await redis.set(_await_key(chat_id, user_id), json.dumps({"kind": kind, **data}), ex=AWAIT_TTL)


async def expected_reply(redis: Redis, chat_id: int, user_id: int) -> dict[str, Any] | None:
    raw = await redis.get(_await_key(chat_id, user_id))
    if not raw:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


async def reply_received(redis: Redis, chat_id: int, user_id: int) -> None:
    await redis.delete(_await_key(chat_id, user_id))


# --- finishing a sign-in ------------------------------------------------------------------


async def finish(
    pending: PendingSignIn,
    url: str,
    *,
    settings: Settings,
    session: AsyncSession,
    secrets: SecretBox | None,
    bot: Bot,
    redis: Redis,
) -> tuple[bool, str]:
    """Exchange the code in `url`, store the account, tell the chat; (connected, message)."""
    name = gettext(pending.lang, f"connect.provider.{pending.provider}")
    try:
        if secrets is None:
            raise SignInError("connect.error.no_secret_key")
        if pending.provider == "youtube":
            account = await _finish_google(pending, url, settings, session, secrets)
            text = gettext(pending.lang, "connect.youtube_done", channel=_esc(account))
        else:
            account = await _finish_vk(pending, url, settings, session, secrets, redis)
            text = gettext(pending.lang, "connect.vk_done", account=_esc(account))
        await session.commit()
        ok = True
    except SignInError as exc:
        # Raised before anything is written, so the caller's session stays as it was.
        text = gettext(pending.lang, exc.key, provider=name, **exc.params)
        ok = False
    except Exception:
        log.exception("%s sign-in for chat %s failed", pending.provider, pending.chat_id)
        await session.rollback()
        text = gettext(pending.lang, "connect.error.unreachable", provider=name)
        ok = False
    await say(bot, pending.chat_id, pending.thread_id, text)
    return ok, text


async def say(bot: Bot, chat_id: int, thread_id: int | None, text: str) -> None:
    try:
        await bot.send_message(chat_id, text, message_thread_id=thread_id)
    except TelegramAPIError as exc:
        log.warning("cannot tell chat %s about a connection: %s", chat_id, exc.message)


async def _finish_google(
    pending: PendingSignIn, url: str, settings: Settings, session: AsyncSession, box: SecretBox
) -> str:
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
    await _replace_credential(session, box, pending, channel, payload)
    return channel


async def _finish_vk(
    pending: PendingSignIn,
    url: str,
    settings: Settings,
    session: AsyncSession,
    box: SecretBox,
    redis: Redis,
) -> str:
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
    account = f"id{tokens.user_id}"
    payload = {
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token,
        "expires_at": tokens.expires_at.isoformat(),
        "user_id": tokens.user_id,
        "device_id": tokens.device_id,
        "scope": list(tokens.scope),
    }
    credential_id = await _replace_credential(session, box, pending, account, payload)
    await expect_reply(
        redis, pending.chat_id, pending.user_id, "vk_group", credential_id=credential_id
    )
    return account


async def _replace_credential(
    session: AsyncSession,
    box: SecretBox,
    pending: PendingSignIn,
    account: str,
    payload: dict[str, Any],
) -> int:
    # One account per provider and workspace: connecting again replaces the old one. The old
    # grant is not revoked, because Google revokes a whole grant and a reconnect of the same
    # account shares it with the new tokens.
    for old in await repo.credentials(session, pending.workspace_id, pending.provider):
        await session.delete(old)
    credential = await repo.store_credential(
        session,
        pending.workspace_id,
        box,
        provider=pending.provider,
        account_name=account,
        payload=payload,
        created_by=pending.user_id,
    )
    await repo.audit(
        session,
        pending.workspace_id,
        pending.user_id,
        "connection_added",
        pending.provider,
        account=account,
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
        pending = await take(deps.redis, provider, state)
        if pending is None:
            return _page(lang, "oauth.page_failed", gettext(lang, "oauth.page_expired"), 400)
        async with deps.sessions() as session:
            ok, text = await finish(
                pending,
                str(request.url),
                settings=deps.settings,
                session=session,
                secrets=deps.secrets,
                bot=deps.bot,
                redis=deps.redis,
            )
        if ok:
            return _page(pending.lang, "oauth.page_done", gettext(pending.lang, "oauth.page_back"))
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
