"""The anonymous commit state is shared only by callers that asked before its statement ran."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import pytest

from src.core.reads import Reads
from src.services.freshness import SharedCommitState


class HeldReads:
    """A PostgreSQL `Reads` whose each statement waits for `release`, answering `state`."""

    dialect = "postgresql"

    def __init__(self) -> None:
        self.started = 0
        self.starts = asyncio.Condition()
        self.release = asyncio.Event()
        self.state = "1:1:"

    async def first(self, _statement: Any, _params: Mapping[str, Any]) -> Mapping[str, Any]:
        state = self.state  # what the database holds when the statement starts
        async with self.starts:
            self.started += 1
            self.starts.notify_all()
        await self.release.wait()
        return {"version": state, "viewer_live": False}

    async def until_started(self, statements: int) -> None:
        async with self.starts:
            await self.starts.wait_for(lambda: self.started >= statements)


@pytest.fixture
def reads() -> HeldReads:
    return HeldReads()


def shared(reads: HeldReads) -> SharedCommitState:
    @asynccontextmanager
    async def open_reads() -> AsyncIterator[Reads]:
        yield reads  # type: ignore[misc]  # the two methods the state reads

    return SharedCommitState(open_reads)


async def test_callers_that_ask_together_share_one_statement(reads: HeldReads) -> None:
    state = shared(reads)
    together = [asyncio.create_task(state.now()) for _ in range(5)]
    await asyncio.sleep(0)
    reads.release.set()
    assert await asyncio.gather(*together) == ["1:1:"] * 5
    assert reads.started == 1


async def test_a_caller_never_takes_the_answer_of_a_statement_already_running(
    reads: HeldReads,
) -> None:
    state = shared(reads)
    first = asyncio.create_task(state.now())
    await reads.until_started(1)  # the first statement is running
    reads.state = "2:2:"  # a commit lands while it runs
    second = asyncio.create_task(state.now())
    await reads.until_started(2)
    reads.release.set()
    assert await first == "1:1:"
    assert await second == "2:2:"  # its own statement, started after it asked


async def test_a_caller_that_goes_away_leaves_the_others_their_answer(reads: HeldReads) -> None:
    state = shared(reads)
    leaving, staying = asyncio.create_task(state.now()), asyncio.create_task(state.now())
    await asyncio.sleep(0)
    leaving.cancel()
    reads.release.set()
    assert await staying == "1:1:"
    with pytest.raises(asyncio.CancelledError):
        await leaving
