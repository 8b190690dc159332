"""Yandex OAuth and the Yandex Disk REST API, as one server on 127.0.0.1 for tests.

`FakeYandex` speaks the wire protocol the real services do:

* ``POST /token``: authorization code (with PKCE S256 when the consent asked for it) and
  refresh token grants, client id and secret in the form; errors as
  ``{"error", "error_description"}``. Refresh tokens rotate: the old one stops working.
* ``POST /revoke_token``: the app's id and secret (form or Basic) and ``access_token``; a
  token issued for a device (the consent page was given ``device_id``) dies with its refresh
  token, ``{"status": "ok"}``; any other token is refused (``unsupported_token_type``).
* ``GET /v1/disk/``: the Disk and its owner (``user.login``, ``user.display_name``).
* ``GET|PUT /v1/disk/resources?path=``: a resource (folders with ``_embedded.items``, paged by
  ``limit``/``offset``), a new folder (409 when it exists or its parent does not).
* ``GET /v1/disk/resources/upload?path=&overwrite=``: an upload ``href`` on this server;
  ``PUT`` the bytes there (201). 507 when the Disk has no room, on either step.
* ``PUT /v1/disk/resources/publish?path=``: a ``public_url`` on the resource's meta.
* ``GET /v1/disk/resources/download?path=``: a download ``href`` on this server.
* Every API request needs ``Authorization: OAuth <token>``; an expired or revoked token gets
  401 ``UnauthorizedError``.

Tests play the people and the faults::

    async with FakeYandex() as yandex:
        ann = yandex.add_account("ann", "Ann Petrova", total_space=10_000_000)
        ann.put_file("disk:/Lectures/one.mp4", data)
        redirect = yandex.approve(authorize_url, login="ann")   # where the browser lands
        token = yandex.token_for("ann", ttl=-1)                  # an expired one
        yandex.fail_upload(times=1, status=500)                  # or drop=True: cut mid-body
        yandex.revoke("ann")                                     # every token of ann dies
        ann.files, ann.published, yandex.uploads_to(path)        # what reached the Disk
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from aiohttp import web

from tests.fakes.server import FakeServer, listen


@dataclass
class Account:
    login: str
    display_name: str
    uid: str
    total_space: int
    files: dict[str, bytes] = field(default_factory=dict)
    folders: set[str] = field(default_factory=lambda: {"disk:"})
    published: dict[str, str] = field(default_factory=dict)

    @property
    def used_space(self) -> int:
        return sum(len(data) for data in self.files.values())

    def put_file(self, path: str, data: bytes) -> None:
        path = _norm(path)
        parent = path.rsplit("/", 1)[0]
        while parent not in self.folders:
            self.folders.add(parent)
            parent = parent.rsplit("/", 1)[0]
        self.files[path] = data


@dataclass
class Token:
    login: str
    expires_at: float
    revoked: bool = False
    device_id: str | None = None


@dataclass
class Fault:
    status: int
    times: int
    drop: bool
    suffix: str


def _norm(path: str) -> str:
    path = path.strip()
    if path.startswith("disk:"):
        path = path[len("disk:") :]
    return "disk:" + "/" + "/".join(p for p in path.split("/") if p) if path.strip("/") else "disk:"


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _error(status: int, error: str, message: str) -> web.Response:
    body = {"error": error, "message": message, "description": message}
    return web.json_response(body, status=status)


class FakeYandex(FakeServer):
    def __init__(
        self, *, client_id: str = "yandex-app", client_secret: str = "yandex-secret"
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_ttl = 365 * 24 * 3600
        self.accounts: dict[str, Account] = {}
        self.tokens: dict[str, Token] = {}
        self.refresh_tokens: dict[str, str] = {}
        self.codes: dict[str, tuple[str, str | None, str]] = {}
        self.tickets: dict[str, tuple[str, str]] = {}
        # Every PUT of bytes that reached an upload href: (path, size), complete or not.
        self.upload_log: list[tuple[str, int, int]] = []
        self.token_requests: list[dict[str, str]] = []
        # Devices named on the consent page, by code, then by refresh token.
        self.devices: dict[str, str | None] = {}
        self.revoke_requests: list[dict[str, str]] = []
        self.revoke_status: int | None = None
        self._faults: list[Fault] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    @property
    def oauth_url(self) -> str:
        return self.url

    @property
    def api_url(self) -> str:
        return self.url

    async def start(self) -> None:
        app = web.Application(client_max_size=1024**3)
        app.router.add_post("/token", self._token)
        app.router.add_post("/revoke_token", self._revoke_token)
        app.router.add_get("/v1/disk/", self._disk)
        app.router.add_get("/v1/disk/resources", self._get_resource)
        app.router.add_put("/v1/disk/resources", self._make_folder)
        app.router.add_get("/v1/disk/resources/upload", self._upload_link)
        app.router.add_put("/v1/disk/resources/publish", self._publish)
        app.router.add_get("/v1/disk/resources/download", self._download_link)
        app.router.add_put("/upload/{ticket}", self._receive)
        app.router.add_get("/download/{ticket}", self._send)
        self._runner, self.url = await listen(app)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # --- what tests arrange ---------------------------------------------------------------

    def add_account(
        self, login: str, display_name: str, *, total_space: int = 10 * 1024**3
    ) -> Account:
        account = Account(login, display_name, str(1000 + len(self.accounts)), total_space)
        self.accounts[login] = account
        return account

    def token_for(
        self, login: str, *, ttl: float | None = None, device_id: str | None = None
    ) -> str:
        token = "y0_" + secrets.token_urlsafe(24)
        lifetime = self.token_ttl if ttl is None else ttl
        self.tokens[token] = Token(login, time.time() + lifetime, device_id=device_id)
        return token

    def refresh_token_for(self, login: str) -> str:
        token = "1:" + secrets.token_urlsafe(24)
        self.refresh_tokens[token] = login
        return token

    def revoke(self, login: str) -> None:
        """The person took the app's access away: every token and refresh token dies."""
        for token in self.tokens.values():
            if token.login == login:
                token.revoked = True
        for refresh in [r for r, who in self.refresh_tokens.items() if who == login]:
            del self.refresh_tokens[refresh]

    def fail_upload(
        self, *, times: int = 1, status: int = 500, drop: bool = False, suffix: str = ""
    ) -> None:
        """The next `times` uploads (of paths ending with `suffix`) fail: an HTTP `status`
        after the body arrived, or with `drop` a connection cut in the middle of the body."""
        self._faults.append(Fault(status, times, drop, suffix))

    def approve(self, authorize_url: str, *, login: str) -> str:
        """The person signs in as `login` and allows access: where the browser goes next."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
        assert query["client_id"] == self.client_id, "unknown client_id"
        assert query["response_type"] == "code"
        challenge = query.get("code_challenge")
        if challenge is not None:
            assert query.get("code_challenge_method") == "S256"
        code = secrets.token_hex(8)
        self.codes[code] = (login, challenge, query["redirect_uri"])
        device = query.get("device_id")
        if device is not None:
            assert 6 <= len(device) <= 50, "device_id is 6 to 50 characters"
            assert query.get("device_name"), "a device is named for the person"
        self.devices[code] = device
        return f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"

    def decline(self, authorize_url: str) -> str:
        query = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
        params = {"error": "access_denied", "state": query["state"]}
        return f"{query['redirect_uri']}?{urlencode(params)}"

    def uploads_to(self, path: str) -> list[tuple[int, int]]:
        """(bytes received, status answered) of every upload PUT that targeted `path`."""
        path = _norm(path)
        return [(size, status) for p, size, status in self.upload_log if p == path]

    def owner_of(self, token: str) -> str | None:
        found = self.tokens.get(token)
        return found.login if found else None

    # --- OAuth ----------------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        fields = {k: str(v) for k, v in form.items()}
        self.token_requests.append(fields)
        if fields.get("client_id") != self.client_id or (
            fields.get("client_secret") != self.client_secret
        ):
            return self._oauth_error(401, "invalid_client", "Client not found")
        grant = fields.get("grant_type")
        if grant == "authorization_code":
            found = self.codes.pop(fields.get("code", ""), None)
            if found is None:
                return self._oauth_error(400, "invalid_grant", "Code has expired")
            login, challenge, _redirect = found
            if challenge is not None and _challenge(fields.get("code_verifier", "")) != challenge:
                return self._oauth_error(400, "invalid_grant", "Code verifier is not valid")
            device = self.devices.pop(fields.get("code", ""), None)
        elif grant == "refresh_token":
            login_or_none = self.refresh_tokens.pop(fields.get("refresh_token", ""), None)
            if login_or_none is None:
                return self._oauth_error(400, "invalid_grant", "Token has been revoked")
            login = login_or_none
            device = self.devices.pop(fields.get("refresh_token", ""), None)
        else:
            return self._oauth_error(400, "unsupported_grant_type", "Unknown grant")
        access = self.token_for(login, device_id=device)
        refresh = self.refresh_token_for(login)
        self.devices[refresh] = device
        return web.json_response(
            {
                "token_type": "bearer",
                "access_token": access,
                "expires_in": self.token_ttl,
                "refresh_token": refresh,
            }
        )

    async def _revoke_token(self, request: web.Request) -> web.Response:
        fields = {k: str(v) for k, v in (await request.post()).items()}
        self.revoke_requests.append(fields)
        client = (fields.get("client_id"), fields.get("client_secret"))
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            pair = base64.b64decode(header[len("Basic ") :]).decode()
            client = tuple(pair.split(":", 1))  # type: ignore[assignment]
        if client != (self.client_id, self.client_secret):
            return self._oauth_error(401, "invalid_client", "Client not found")
        if self.revoke_status is not None:
            return self._oauth_error(self.revoke_status, "server_error", "Try again later")
        token = self.tokens.get(fields.get("access_token", ""))
        if token is None or token.revoked:
            return self._oauth_error(400, "invalid_token", "Token is not valid")
        if token.device_id is None:
            return self._oauth_error(400, "unsupported_token_type", "Not a device token")
        token.revoked = True
        for refresh in [r for r, d in self.devices.items() if d == token.device_id]:
            self.refresh_tokens.pop(refresh, None)
            del self.devices[refresh]
        return web.json_response({"status": "ok"})

    @staticmethod
    def _oauth_error(status: int, error: str, description: str) -> web.Response:
        return web.json_response({"error": error, "error_description": description}, status=status)

    # --- the Disk -------------------------------------------------------------------------

    def _account(self, request: web.Request) -> Account | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("OAuth "):
            return None
        token = self.tokens.get(header[len("OAuth ") :])
        if token is None or token.revoked or token.expires_at <= time.time():
            return None
        return self.accounts.get(token.login)

    @staticmethod
    def _unauthorized() -> web.Response:
        return _error(401, "UnauthorizedError", "Не авторизован.")

    def _meta(self, account: Account, path: str) -> dict[str, Any]:
        name = path.rsplit("/", 1)[-1] if path != "disk:" else "disk"
        meta: dict[str, Any] = {"name": name, "path": path if path != "disk:" else "disk:/"}
        if path in account.published:
            meta["public_url"] = account.published[path]
        if path in account.files:
            data = account.files[path]
            video = path.endswith((".mp4", ".mkv", ".mov", ".webm"))
            meta.update(
                type="file",
                size=len(data),
                md5=hashlib.md5(data).hexdigest(),
                media_type="video" if video else "document",
                mime_type="video/mp4" if video else "application/octet-stream",
            )
        else:
            meta["type"] = "dir"
        return meta

    async def _disk(self, request: web.Request) -> web.Response:
        account = self._account(request)
        if account is None:
            return self._unauthorized()
        return web.json_response(
            {
                "total_space": account.total_space,
                "used_space": account.used_space,
                "user": {
                    "login": account.login,
                    "display_name": account.display_name,
                    "uid": account.uid,
                    "country": "ru",
                },
            }
        )

    async def _get_resource(self, request: web.Request) -> web.Response:
        account = self._account(request)
        if account is None:
            return self._unauthorized()
        path = _norm(request.query.get("path", ""))
        if path not in account.files and path not in account.folders:
            return _error(404, "DiskNotFoundError", "Не удалось найти запрошенный ресурс.")
        meta = self._meta(account, path)
        if meta["type"] == "dir":
            limit = int(request.query.get("limit", "20"))
            offset = int(request.query.get("offset", "0"))
            inside = sorted(
                p
                for p in (*account.files, *account.folders)
                if p != path and p.rsplit("/", 1)[0] == path
            )
            meta["_embedded"] = {
                "items": [self._meta(account, p) for p in inside[offset : offset + limit]],
                "limit": limit,
                "offset": offset,
                "total": len(inside),
                "path": meta["path"],
            }
        return web.json_response(meta)

    async def _make_folder(self, request: web.Request) -> web.Response:
        account = self._account(request)
        if account is None:
            return self._unauthorized()
        path = _norm(request.query.get("path", ""))
        if path in account.folders or path in account.files:
            return _error(409, "DiskPathPointsToExistentDirectoryError", "Ресурс уже существует.")
        if path.rsplit("/", 1)[0] not in account.folders:
            return _error(409, "DiskPathDoesntExistsError", "Указанного пути не существует.")
        account.folders.add(path)
        return web.json_response(self._link("GET", path), status=201)

    def _link(self, method: str, path: str) -> dict[str, Any]:
        query = urlencode({"path": path})
        return {
            "href": f"{self.url}/v1/disk/resources?{query}",
            "method": method,
            "templated": False,
        }

    async def _upload_link(self, request: web.Request) -> web.Response:
        account = self._account(request)
        if account is None:
            return self._unauthorized()
        path = _norm(request.query.get("path", ""))
        overwrite = request.query.get("overwrite", "false") == "true"
        if path.rsplit("/", 1)[0] not in account.folders:
            return _error(409, "DiskPathDoesntExistsError", "Указанного пути не существует.")
        if path in account.files and not overwrite:
            return _error(409, "DiskResourceAlreadyExistsError", "Ресурс уже существует.")
        if account.used_space >= account.total_space:
            return _error(507, "DiskInsufficientStorageError", "Недостаточно свободного места.")
        ticket = secrets.token_hex(8)
        self.tickets[ticket] = (account.login, path)
        return web.json_response(
            {
                "operation_id": ticket,
                "href": f"{self.url}/upload/{ticket}",
                "method": "PUT",
                "templated": False,
            }
        )

    async def _receive(self, request: web.Request) -> web.StreamResponse:
        found = self.tickets.get(request.match_info["ticket"])
        if found is None:
            return _error(404, "NotFound", "Upload link expired")
        login, path = found
        account = self.accounts[login]
        fault = next((f for f in self._faults if f.times > 0 and path.endswith(f.suffix)), None)
        if fault is not None:
            fault.times -= 1
            if fault.drop:
                # Half the body, then the connection goes away.
                declared = int(request.headers.get("Content-Length", "0"))
                got = len(await request.content.read(max(declared // 2, 1)))
                self.upload_log.append((path, got, 0))
                assert request.transport is not None
                request.transport.close()
                return web.Response(status=500)
            data = await request.read()
            self.upload_log.append((path, len(data), fault.status))
            return _error(fault.status, "ServiceUnavailable", "Сервис временно недоступен.")
        data = await request.read()
        old = len(account.files.get(path, b""))
        if account.used_space - old + len(data) > account.total_space:
            self.upload_log.append((path, len(data), 507))
            return web.Response(status=507, text="Insufficient Storage")
        self.upload_log.append((path, len(data), 201))
        del self.tickets[request.match_info["ticket"]]
        account.files[path] = data
        return web.Response(status=201, text="Created")

    async def _publish(self, request: web.Request) -> web.Response:
        account = self._account(request)
        if account is None:
            return self._unauthorized()
        path = _norm(request.query.get("path", ""))
        if path not in account.files and path not in account.folders:
            return _error(404, "DiskNotFoundError", "Не удалось найти запрошенный ресурс.")
        account.published.setdefault(path, f"https://disk.yandex.ru/d/{secrets.token_urlsafe(9)}")
        return web.json_response(self._link("GET", path))

    async def _download_link(self, request: web.Request) -> web.Response:
        account = self._account(request)
        if account is None:
            return self._unauthorized()
        path = _norm(request.query.get("path", ""))
        if path not in account.files:
            return _error(404, "DiskNotFoundError", "Не удалось найти запрошенный ресурс.")
        ticket = secrets.token_hex(8)
        self.tickets[ticket] = (account.login, path)
        return web.json_response(
            {"href": f"{self.url}/download/{ticket}", "method": "GET", "templated": False}
        )

    async def _send(self, request: web.Request) -> web.Response:
        found = self.tickets.get(request.match_info["ticket"])
        if found is None:
            return web.Response(status=404)
        login, path = found
        data = self.accounts[login].files.get(path)
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="video/mp4")
