"""Fixed-window rate limiting, in Redis (shared by every worker) or in this process.

The in-process backend is only for the single-process embedded default; with REDIS_URL set,
every worker and machine counts in the same Redis keys.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

logger = logging.getLogger("conduit.ratelimit")
KEY_PREFIX = "conduit:rl:"


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    retry_after: int  # seconds until the window resets (0 when allowed)


class RateLimiter(Protocol):
    async def hit(self, key: str, limit: int, window: int) -> Verdict: ...

    async def close(self) -> None: ...


def _window(window: int, now: float) -> tuple[int, int]:
    """(index of the current window, whole seconds until it ends; at least 1)."""
    index = int(now // window)
    return index, max(1, math.ceil((index + 1) * window - now))


class MemoryRateLimiter:
    """Counts in this process: correct only when one process serves every request."""

    def __init__(self) -> None:
        self._counts: dict[str, tuple[int, int]] = {}

    async def hit(self, key: str, limit: int, window: int) -> Verdict:
        index, remaining = _window(window, time.time())
        stored_index, count = self._counts.get(key, (index, 0))
        count = count + 1 if stored_index == index else 1
        self._counts[key] = (index, count)
        if len(self._counts) > 100_000:  # drop finished windows so memory stays bounded
            self._counts = {k: v for k, v in self._counts.items() if v[0] == index}
        return Verdict(count <= limit, 0 if count <= limit else remaining)

    async def close(self) -> None:
        self._counts.clear()


class RedisRateLimiter:
    """INCR on a key per window, expiring with it: atomic across workers and machines."""

    def __init__(self, url: str) -> None:
        self._redis: Redis = Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)

    async def hit(self, key: str, limit: int, window: int) -> Verdict:
        index, remaining = _window(window, time.time())
        redis_key = f"{KEY_PREFIX}{key}:{window}:{index}"
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(redis_key)
                pipe.expire(redis_key, window + 1)
                count, _ = await pipe.execute()
        except (RedisError, OSError):
            # Availability over strictness: an unreachable Redis must not lock everyone out.
            logger.warning("rate limiter: Redis unavailable; request allowed", exc_info=True)
            return Verdict(True, 0)
        allowed = int(count) <= limit
        return Verdict(allowed, 0 if allowed else remaining)

    async def close(self) -> None:
        await self._redis.aclose()


def create_rate_limiter(redis_url: str | None) -> RateLimiter:
    return RedisRateLimiter(redis_url) if redis_url else MemoryRateLimiter()
