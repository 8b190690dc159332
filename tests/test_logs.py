"""No secret reaches a log line, whoever logs it."""

from __future__ import annotations

import logging

import pytest

from leap.logs import install_redaction, remember_secrets
from tests.conftest import TOKEN


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
