"""The platforms a recording can be published to, in the order the chat lists them.

Every per-platform table is derived from the platforms' own records here, in one place: the
platform names in order, the connection each publishes through, the time a job may take, the
platforms that need a picture. Each one's publisher and resume state are on its record. A new
platform is one module that exports its `Platform` record, added to REGISTRY.

This module and the ones it imports know nothing of the chat's cards, so jobs.cards may import
it (and jobs.publish.outcome / jobs.publish.request) at module level.
"""

from __future__ import annotations

from types import MappingProxyType

from jobs.publish import export, telegram, vk, yandex_disk, youtube
from jobs.publish.spec import Platform

# In the order of the chat's lines and buttons.
REGISTRY: tuple[Platform, ...] = (
    youtube.PLATFORM,
    vk.PLATFORM,
    yandex_disk.PLATFORM,
    telegram.PLATFORM,
    export.PLATFORM,
)

BY_NAME: MappingProxyType[str, Platform] = MappingProxyType({p.name: p for p in REGISTRY})
PLATFORMS: tuple[str, ...] = tuple(p.name for p in REGISTRY)
# The connection each platform publishes through; a platform that needs none is not here.
PROVIDERS: dict[str, str] = {p.name: p.provider for p in REGISTRY if p.provider is not None}
TIMEOUTS: dict[str, int] = {p.name: p.timeout for p in REGISTRY}
# Platforms that show a picture: sound alone cannot be published there.
NEEDS_PICTURE: frozenset[str] = frozenset(p.name for p in REGISTRY if p.needs_picture)
