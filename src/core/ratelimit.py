"""Fixed-window rate limiting, in Redis (shared by every worker) or in this process.

The in-process backend is only for the single-process embedded default; with REDIS_URL set,
every worker and machine counts in the same Redis keys (and in process memory while Redis
fails to answer).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass
from time import monotonic
from typing import Protocol

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from src.core.config import Settings
from src.core.failures import failure_reason

logger = logging.getLogger("conduit.ratelimit")
KEY_PREFIX = "conduit:rl:"


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    retry_after: int  # seconds until the window resets (0 when allowed)
    # What a client may see coming (the RateLimit header): requests left in this window and
    # whole seconds until it resets, from the same count, without another round trip.
    remaining: int = 0
    reset: int = 0


def _verdict(count: int, limit: int, reset: int) -> Verdict:
    allowed = count <= limit
    return Verdict(allowed, 0 if allowed else reset, max(0, limit - count), reset)


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
        return _verdict(count, limit, remaining)

    async def close(self) -> None:
        self._counts.clear()


class RedisRateLimiter:
    """INCR on a key per window, expiring with it: atomic across workers and machines.

    Redis is a helper, not a dependency of every request: each call is bounded by `timeout`,
    and after a failure a circuit breaker counts in this process for `breaker_seconds` before
    one request tries Redis again, with one warning per interval (README, Security model).
    """

    def __init__(self, url: str, timeout: float, breaker_seconds: float) -> None:
        self._redis: Redis = Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),  # the bound is one attempt, not several
        )
        self._timeout = timeout
        self._breaker_seconds = breaker_seconds
        self._local = MemoryRateLimiter()  # counts while Redis is skipped
        self._skip_until = 0.0
        self._down = False
        self._next_warning = 0.0

    async def hit(self, key: str, limit: int, window: int) -> Verdict:
        now = monotonic()
        if now < self._skip_until:
            return await self._local.hit(key, limit, window)
        if self._down:  # the interval is over: this request alone tries Redis again
            self._skip_until = now + self._breaker_seconds
        index, remaining = _window(window, time.time())
        redis_key = f"{KEY_PREFIX}{key}:{window}:{index}"
        try:
            async with asyncio.timeout(self._timeout):
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.incr(redis_key)
                    pipe.expire(redis_key, window + 1)
                    count, _ = await pipe.execute()
        except (RedisError, OSError, TimeoutError) as exc:
            self._trip(exc)
            return await self._local.hit(key, limit, window)
        if self._down:
            self._down, self._skip_until = False, 0.0
            logger.warning("rate limiter: Redis answers again; counting in Redis")
        return _verdict(int(count), limit, remaining)

    def _trip(self, exc: BaseException) -> None:
        now = monotonic()
        self._down = True
        self._skip_until = now + self._breaker_seconds
        if now >= self._next_warning:  # one line per interval, however many requests fail
            self._next_warning = now + self._breaker_seconds
            logger.warning(
                "rate limiter: Redis %s; counting in this process for the next %g s",
                failure_reason(exc),
                self._breaker_seconds,
            )

    async def close(self) -> None:
        await self._redis.aclose()
        await self._local.close()


def create_rate_limiter(settings: Settings) -> RateLimiter:
    if not settings.redis_url:
        return MemoryRateLimiter()
    return RedisRateLimiter(
        settings.redis_url, settings.redis_timeout_seconds, settings.redis_breaker_seconds
    )
