"""Short, stable reasons for a dependency that did not answer (logs, /health/ready)."""

from __future__ import annotations

import asyncio

from redis.exceptions import TimeoutError as RedisTimeoutError


def failure_reason(exc: BaseException) -> str:
    """Why a dependency did not answer, for logs and /health/ready: "timed out", "refused",
    or "unreachable (<error type>)". Looks through the exceptions it wraps."""
    seen: BaseException | None = exc
    for _ in range(8):  # libraries wrap the real error in a few layers, never many
        if seen is None:
            break
        if isinstance(seen, TimeoutError | RedisTimeoutError | asyncio.CancelledError):
            return "timed out"  # asyncio.timeout() raises TimeoutError from a CancelledError
        if isinstance(seen, ConnectionRefusedError):
            return "refused"
        seen = seen.__cause__ or seen.__context__
    cause = exc.__cause__ or exc
    return f"unreachable ({type(cause).__name__})"
