"""Credentials at rest: Fernet tokens under one or more keys, the first one current."""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class SecretBoxError(Exception):
    pass


def generate_key() -> str:
    return Fernet.generate_key().decode()


class SecretBox:
    """Encrypts JSON payloads; accepts every listed key for reading so keys can be rotated."""

    def __init__(self, keys: str | list[str]) -> None:
        if isinstance(keys, str):
            keys = [k.strip() for k in keys.split(",") if k.strip()]
        if not keys:
            raise SecretBoxError("SECRET_KEY is empty")
        try:
            self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])
        except ValueError as exc:
            raise SecretBoxError("SECRET_KEY is not a valid Fernet key") from exc

    def encrypt(self, payload: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(payload).encode()).decode()

    def decrypt(self, token: str) -> dict[str, Any]:
        try:
            return json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken as exc:
            raise SecretBoxError("credential cannot be decrypted with the configured keys") from exc

    def rotate(self, token: str) -> str:
        """Re-encrypt under the newest key (the first in SECRET_KEY)."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken as exc:
            raise SecretBoxError("credential cannot be decrypted with the configured keys") from exc
