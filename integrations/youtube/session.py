"""One connected channel's plumbing: the OAuth credentials, the API service, the retries.

Rules it keeps:

- The credentials are the grant's tokens (`from_tokens`); google-auth refreshes the access
  token when it expires, and `tokens` gives back what to store again.
- The service is built from the discovery document bundled with the library, its root
  rewritten to `api_url`: that keeps resumable uploads on the configured host (proxies,
  plain HTTP test servers). Each call gets its own ``httplib2.Http`` from
  ``googleapiclient.http.build_http``, which does not follow Google's ``308 Resume
  Incomplete`` as a redirect.
- A call that fails transiently is tried again up to `max_retries` times, after exponential
  backoff with jitter (`retry_delay` doubling up to `max_delay`), as Google's guidance says.
"""

from __future__ import annotations

import functools
import json
import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Self, TypeVar

import google_auth_httplib2
from google.oauth2.credentials import Credentials
from googleapiclient import discovery_cache
from googleapiclient.discovery import build_from_document
from googleapiclient.http import HttpRequest, build_http

from integrations.google_oauth import DEFAULT_TOKEN_URL, Tokens
from integrations.youtube.errors import YouTubeTransient, translated

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_API_URL = "https://www.googleapis.com"


@functools.cache
def _bundled_discovery() -> str:
    return discovery_cache.get_static_doc("youtube", "v3") or ""


def discovery_document(api_url: str = DEFAULT_API_URL) -> dict[str, Any]:
    """The bundled YouTube v3 discovery document, pointed at `api_url`."""
    text = _bundled_discovery()
    if not text:
        raise RuntimeError("google-api-python-client ships no YouTube v3 discovery document")
    doc: dict[str, Any] = json.loads(text)
    root = api_url.rstrip("/") + "/"
    doc["rootUrl"] = root
    doc["mtlsRootUrl"] = root
    doc["baseUrl"] = root + doc["servicePath"]
    return doc


class Session:
    """One channel's credentials, API service and retries; `YouTube` adds the calls."""

    def __init__(
        self,
        *,
        access_token: str | None,
        refresh_token: str | None,
        client_id: str,
        client_secret: str,
        token_url: str = DEFAULT_TOKEN_URL,
        api_url: str = DEFAULT_API_URL,
        expires_at: datetime | None = None,
        scope: str = "",
        max_retries: int = 5,
        retry_delay: float = 1.0,
        max_delay: float = 64.0,
        timeout: float = 120.0,
    ) -> None:
        expiry = expires_at.astimezone(UTC).replace(tzinfo=None) if expires_at else None
        self._credentials = Credentials(
            token=access_token,
            refresh_token=refresh_token,
            token_uri=token_url,
            client_id=client_id,
            client_secret=client_secret,
            expiry=expiry,
        )
        self._expires_at = expires_at
        self._api_url = api_url
        self._scope = scope
        self.max_retries = max_retries
        self.retry_delay = retry_delay
        self.max_delay = max_delay
        self.timeout = timeout
        self._service = build_from_document(discovery_document(api_url), http=self._http())

    @classmethod
    def from_tokens(
        cls, tokens: Tokens, *, client_id: str, client_secret: str, **kwargs: Any
    ) -> Self:
        return cls(
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,
            client_id=client_id,
            client_secret=client_secret,
            expires_at=tokens.expires_at,
            scope=tokens.scope,
            **kwargs,
        )

    def __repr__(self) -> str:
        return f"<YouTube {self._api_url}>"

    @property
    def tokens(self) -> Tokens:
        """The tokens as they stand now: store them again when `access_token` changed."""
        creds = self._credentials
        if creds.expiry is not None:
            expires_at = creds.expiry.replace(tzinfo=UTC)
        else:
            expires_at = self._expires_at or datetime.now(UTC)
        return Tokens(
            access_token=creds.token or "",
            refresh_token=creds.refresh_token,
            expires_at=expires_at,
            scope=self._scope,
        )

    def _http(self) -> google_auth_httplib2.AuthorizedHttp:
        transport = build_http()
        transport.timeout = self.timeout
        return google_auth_httplib2.AuthorizedHttp(self._credentials, http=transport)

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter, as Google's upload guidance describes."""
        delay = min(self.retry_delay * 2 ** (attempt - 1), self.max_delay)
        return delay + random.uniform(0, self.retry_delay)

    def _retrying(self, what: str, call: Callable[[], T]) -> T:
        attempt = 0
        while True:
            try:
                return call()
            except YouTubeTransient as exc:
                attempt += 1
                if attempt > self.max_retries:
                    raise
                delay = self._backoff(attempt)
                log.warning(
                    "YouTube %s: %s, try %d of %d in %.1f s",
                    what,
                    exc.reason,
                    attempt + 1,
                    self.max_retries + 1,
                    delay,
                )
                time.sleep(delay)

    def _execute(self, what: str, request: HttpRequest) -> dict[str, Any]:
        http = self._http()

        def call() -> dict[str, Any]:
            with translated():
                return request.execute(http=http)  # type: ignore[no-any-return]

        return self._retrying(what, call)
