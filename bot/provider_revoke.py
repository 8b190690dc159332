"""Disconnecting an account withdraws the bot's access at the provider too, where it can.

Rules it keeps:

- Google: the grant is revoked (refresh token, else access token). A refusal is logged only:
  the workspace asked to forget the account, and Google keeping a grant does not stop that.
- Yandex: the access token is revoked at Yandex OAuth (``/revoke_token``, which also ends its
  refresh token). Yandex revokes only tokens issued for a device, as sign-ins since then are;
  when it refuses or does not answer, the connection is removed all the same and the person
  is told where to withdraw the access themselves.
- Other providers (VK, a Telegram channel, Zoom) are only forgotten here.
- No token appears in a log or a message.
"""

from __future__ import annotations

import logging
from typing import Any

from integrations import google_oauth
from integrations.yandex import YandexError
from integrations.yandex import oauth as yandex_oauth
from leap.settings import Settings

log = logging.getLogger(__name__)


async def withdraw(settings: Settings, provider: str, payload: dict[str, Any]) -> bool:
    """Ask the provider to withdraw the stored grant; False when the person should know that
    it did not (the access may stay until they withdraw it themselves)."""
    if provider == "youtube":
        await _revoke_google(settings, payload)
        return True
    if provider == "yandex":
        return await _revoke_yandex(settings, payload)
    return True


async def _revoke_google(settings: Settings, payload: dict[str, Any]) -> None:
    token = payload.get("refresh_token") or payload.get("access_token")
    if not token:
        return
    try:
        await google_oauth.revoke(
            str(token), revoke_url=google_oauth.revoke_url_for(settings.google_token_url)
        )
    except google_oauth.OAuthError as exc:
        log.warning("Google did not revoke the grant: %s", exc.error)


async def _revoke_yandex(settings: Settings, payload: dict[str, Any]) -> bool:
    token = payload.get("access_token")
    secret = settings.yandex_client_secret
    if not token or not settings.yandex_client_id or secret is None:
        return False
    try:
        await yandex_oauth.revoke(
            str(token),
            client_id=settings.yandex_client_id,
            client_secret=secret.get_secret_value(),
            oauth_url=settings.yandex_oauth_url,
        )
    except YandexError as exc:
        log.warning("Yandex did not revoke the token: %s", exc.error)
        return False
    return True
