"""Yandex: OAuth sign-in (`oauth`), the Disk's REST API (`disk`), paths and links (`paths`).

Errors every caller tells apart are in `errors`: revoked or expired grant, full Disk,
transient faults, a path that names nothing.
"""

from integrations.yandex.disk import DEFAULT_API_URL, Owner, Resource, YandexDisk, join
from integrations.yandex.errors import (
    YandexAuthError,
    YandexDiskFull,
    YandexError,
    YandexNotFound,
    YandexTransient,
)
from integrations.yandex.paths import disk_path, safe_name

__all__ = [
    "DEFAULT_API_URL",
    "Owner",
    "Resource",
    "YandexAuthError",
    "YandexDisk",
    "YandexDiskFull",
    "YandexError",
    "YandexNotFound",
    "YandexTransient",
    "disk_path",
    "join",
    "safe_name",
]
