"""Readiness checks: can this process reach what it depends on right now?"""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from src.core.failures import failure_reason


async def database_problem(session: AsyncSession, within: float) -> str | None:
    """None when a trivial query answers within `within` seconds, else why not."""
    try:
        async with asyncio.timeout(within):
            await session.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means "not ready"
        return failure_reason(exc)
    return None


async def redis_problem(url: str, within: float) -> str | None:
    """None when Redis answers PING within `within` seconds, else why not."""
    client = Redis.from_url(
        url, socket_connect_timeout=within, socket_timeout=within, retry=Retry(NoBackoff(), 0)
    )
    try:
        async with asyncio.timeout(within):
            await client.ping()
    except Exception as exc:  # any failure means "not ready"
        return failure_reason(exc)
    finally:
        await client.aclose()
    return None
