"""Token buckets in Redis: a steady rate with room for a short burst, shared by every process."""

from __future__ import annotations

import time

from redis.asyncio import Redis

# Refill by elapsed time, then take one token if there is one; atomic inside Redis.
_TAKE = """
local key = KEYS[1]
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local state = redis.call('HMGET', key, 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + (now - at) * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', key, 'tokens', tokens, 'at', now)
redis.call('EXPIRE', key, math.ceil(burst / rate) + 1)
return allowed
"""


class TokenBucket:
    def __init__(self, redis: Redis, prefix: str, *, rate: float, burst: int) -> None:
        self.redis = redis
        self.prefix = prefix
        self.rate = rate
        self.burst = burst
        self._script = redis.register_script(_TAKE)

    async def take(self, key: str | int) -> bool:
        allowed = await self._script(
            keys=[f"{self.prefix}:{key}"], args=[self.rate, self.burst, time.time()]
        )
        return bool(allowed)
