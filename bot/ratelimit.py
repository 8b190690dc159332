"""Token buckets in Redis: a steady rate with room for a short burst, shared by every process.

One update may have to fit several buckets at once (the person's per minute and per hour, the
chat's per minute and per hour). They are checked together and a token is taken from every
one of them or from none: an update refused by one bucket must not use up the others, or a
person who floods would drain the whole chat's allowance for everyone else.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

# KEYS: the buckets; ARGV: now, then rate and burst for each bucket in order.
# Returns {0, 0} when a token was taken from every bucket, otherwise {i, ms}: the first
# bucket (1-based) without a token and the milliseconds until it has one again.
_TAKE = """
local now = tonumber(ARGV[1])
local levels = {}
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[2 * i])
  local burst = tonumber(ARGV[2 * i + 1])
  local state = redis.call('HMGET', key, 'tokens', 'at')
  local tokens = tonumber(state[1]) or burst
  local at = tonumber(state[2]) or now
  tokens = math.min(burst, tokens + math.max(now - at, 0) * rate)
  if tokens < 1 then
    return {i, math.ceil((1 - tokens) / rate * 1000)}
  end
  levels[i] = tokens
end
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[2 * i])
  local burst = tonumber(ARGV[2 * i + 1])
  redis.call('HSET', key, 'tokens', levels[i] - 1, 'at', now)
  redis.call('EXPIRE', key, math.ceil(burst / rate) + 1)
end
return {0, 0}
"""


@dataclass(frozen=True)
class Bucket:
    """One limit: `burst` tokens at most, refilled at `rate` per second, under `key`."""

    key: str
    rate: float
    burst: float

    @classmethod
    def per(cls, key: str, count: float, seconds: float) -> Bucket:
        """`count` updates per `seconds`, all of which may come at once."""
        return cls(key, count / seconds, count)

    @property
    def window(self) -> float:
        """Seconds an empty bucket takes to fill again."""
        return self.burst / self.rate


@dataclass(frozen=True)
class Verdict:
    """What `take` decided: allowed, or the bucket that refused and when it has a token."""

    refused_by: Bucket | None = None
    wait: float = 0.0

    @property
    def allowed(self) -> bool:
        return self.refused_by is None


class Buckets:
    """Checks and takes from several buckets in one atomic step."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._script: AsyncScript = redis.register_script(_TAKE)

    async def take(self, *buckets: Bucket) -> Verdict:
        live = [b for b in buckets if b.rate > 0 and b.burst >= 1]
        if not live:
            return Verdict()
        args: list[float] = [time.time()]
        for bucket in live:
            args += [bucket.rate, bucket.burst]
        index, wait_ms = await self._script(keys=[b.key for b in live], args=args)
        if not int(index):
            return Verdict()
        return Verdict(live[int(index) - 1], int(wait_ms) / 1000)


class TokenBucket:
    """A single bucket per key under one prefix: `await bucket.take(user_id)`."""

    def __init__(self, redis: Redis, prefix: str, *, rate: float, burst: int) -> None:
        self.prefix = prefix
        self.rate = rate
        self.burst = burst
        self._buckets = Buckets(redis)

    async def take(self, key: str | int) -> bool:
        bucket = Bucket(f"{self.prefix}:{key}", self.rate, self.burst)
        return (await self._buckets.take(bucket)).allowed


def whole_seconds(value: float) -> int:
    return max(math.ceil(value), 1)
