"""The gate in front of the connection pool: arrival order, and a bounded wait (src/core/db.py)."""

from __future__ import annotations

import asyncio

import pytest

from src.core.db import ConnectionGate, DatabaseUnavailable, is_database_unavailable


async def test_waiting_requests_are_served_in_the_order_they_arrived() -> None:
    gate = ConnectionGate(size=1, timeout_seconds=5)
    served: list[int] = []

    async def request(n: int) -> None:
        async with gate.slot():
            served.append(n)
            await asyncio.sleep(0.001)

    async with gate.slot():  # the only connection is busy while they all queue up
        waiting = [asyncio.create_task(request(n)) for n in range(20)]
        await asyncio.sleep(0.01)
    await asyncio.gather(*waiting)

    assert served == list(range(20))


async def test_no_more_than_its_size_hold_a_slot_at_once() -> None:
    gate = ConnectionGate(size=3, timeout_seconds=5)
    holding = peak = 0

    async def request() -> None:
        nonlocal holding, peak
        async with gate.slot():
            holding += 1
            peak = max(peak, holding)
            await asyncio.sleep(0.005)
            holding -= 1

    await asyncio.gather(*(request() for _ in range(30)))

    assert peak == 3


async def test_a_wait_past_the_pool_timeout_is_database_unavailable() -> None:
    gate = ConnectionGate(size=1, timeout_seconds=0.05)

    async with gate.slot():
        with pytest.raises(DatabaseUnavailable, match="no database connection free") as caught:
            async with gate.slot():
                pass  # pragma: no cover - never entered

    assert is_database_unavailable(caught.value)  # so the API answers 503 with Retry-After
    async with gate.slot():  # the timed-out waiter left no slot taken
        pass
