"""No secret reaches a log line, whoever logs it."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator

import httpx
import pytest
from aiohttp import web

from integrations import export
from leap.logs import configure, install_redaction, remember_secrets
from leap.settings import Settings
from tests.conftest import TOKEN, make_settings


@pytest.fixture(autouse=True)
def _redaction() -> None:
    install_redaction()


@pytest.mark.parametrize(
    "message",
    [
        f"HTTP Request: GET http://127.0.0.1:8081/file/bot{TOKEN}/documents/file_1.mp4",
        'token answer {"access_token": "ya29.a0AfB_very-secret", "expires_in": 3599}',
        "refresh_token=1//0g-another-secret-value&grant_type=refresh_token",
        "GET /oauth/google/callback?state=abc&code=4/0AX4XfWh-secret-code",
        "Authorization: Bearer sk-live-1234567890abcdef",
    ],
)
def test_secret_shapes_are_masked(caplog: pytest.LogCaptureFixture, message: str) -> None:
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("some.library").info(message)
    text = caplog.text
    assert "***" in text
    for secret in (TOKEN, "ya29.a0AfB", "1//0g-another", "4/0AX4XfWh", "sk-live-123"):
        assert secret not in text


def test_configured_secrets_are_masked_in_arguments(caplog: pytest.LogCaptureFixture) -> None:
    remember_secrets(["an-operator-key-of-some-length"])
    with caplog.at_level(logging.INFO):
        logging.getLogger("leap").warning(
            "using key %s for %s", "an-operator-key-of-some-length", 7
        )
    assert "an-operator-key" not in caplog.text
    assert "using key *** for 7" in caplog.text


def test_ordinary_messages_are_left_alone(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        logging.getLogger("leap").info("recording %s: stage %s done in %.1f s", 12, "trim", 0.52)
    assert "recording 12: stage trim done in 0.5 s" in caplog.text


@contextlib.contextmanager
def configured(settings: Settings) -> Iterator[None]:
    """The root logger as `configure` sets it up, with pytest's own handlers put aside."""
    root, quieted = logging.getLogger(), logging.getLogger("httpx")
    handlers, level, quieted_level = root.handlers[:], root.level, quieted.level
    root.handlers.clear()
    try:
        configure(settings)
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        quieted.setLevel(quieted_level)


def _fail_with(message: str) -> None:
    raise RuntimeError(message)


def test_a_traceback_in_the_text_log_shows_no_secret(capsys: pytest.CaptureFixture[str]) -> None:
    settings = make_settings(telegram_bot_token=TOKEN, llm_api_key="llm-key-for-tracebacks-7")
    log = logging.getLogger("leap.jobs")
    with configured(settings):
        try:
            _fail_with(f"GET https://api.telegram.org/bot{TOKEN}/getMe, llm-key-for-tracebacks-7")
        except RuntimeError:
            log.exception("the call failed")
        log.warning("where from", stack_info=True)
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "Stack (most recent call last)" in err
    assert "RuntimeError: GET https://api.telegram.org/bot***/getMe, ***" in err
    assert TOKEN not in err and "llm-key-for-tracebacks" not in err


def test_passwords_in_service_urls_are_masked(capsys: pytest.CaptureFixture[str]) -> None:
    settings = make_settings(
        database_url="postgresql+asyncpg://leap:db-pass-for-logs@db:5432/leap",
        redis_url="redis://:rpw@redis:6379/0",
        link_proxy="http://proxyuser:pr%40xy-secret@proxy:3128",
    )
    log = logging.getLogger("some.library")
    with configured(settings):
        log.error("cannot connect to postgresql+asyncpg://leap:db-pass-for-logs@db:5432/leap")
        log.error("password authentication failed (tried db-pass-for-logs)")
        log.error("Error connecting to redis://:rpw@redis:6379/0")
        log.error("proxy refused the password pr@xy-secret")
        try:
            _fail_with("tunnel through http://proxyuser:pr%40xy-secret@proxy:3128 failed")
        except RuntimeError:
            log.exception("link download failed")
    err = capsys.readouterr().err
    for secret in ("db-pass-for-logs", ":rpw@", "pr%40xy-secret", "pr@xy-secret"):
        assert secret not in err
    assert "postgresql+asyncpg://leap:***@db:5432/leap" in err
    assert "redis://:***@redis:6379/0" in err
    assert "http://proxyuser:***@proxy:3128" in err


async def test_the_access_log_does_not_keep_a_working_export_link(
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = export.sign(export.link_key("a-secret-key"), 3, 14, int(time.time()) + 3600)
    mac = token.rsplit(".", 1)[1]

    async def download(request: web.Request) -> web.Response:
        return web.Response(text="zip")

    app = web.Application()
    app.router.add_get("/export/{token}", download)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        with caplog.at_level(logging.INFO, logger="aiohttp.access"):
            async with httpx.AsyncClient() as http:
                answer = await http.get(f"http://127.0.0.1:{port}/export/{token}")
    finally:
        await runner.cleanup()
    assert answer.status_code == 200
    (line,) = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    # The whole token goes: its ids could be spelled so that no narrower pattern finds the
    # signature after them.
    assert "GET /export/*** HTTP/1.1" in line
    assert mac not in caplog.text


async def test_the_access_log_does_not_keep_a_share_link(caplog: pytest.LogCaptureFixture) -> None:
    token = "3.14.k9Qm2-share-page-signature"

    async def page(request: web.Request) -> web.Response:
        return web.Response(text="page")

    app = web.Application()
    app.router.add_get("/share/{token}", page)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        with caplog.at_level(logging.INFO, logger="aiohttp.access"):
            async with httpx.AsyncClient() as http:
                await http.get(f"http://127.0.0.1:{port}/share/{token}")
    finally:
        await runner.cleanup()
    (line,) = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert "GET /share/*** HTTP/1.1" in line
    assert "signature" not in caplog.text
