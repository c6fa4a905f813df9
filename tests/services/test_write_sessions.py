"""A write's session: committed and closed only where it began something (src/services/sql.py
`commit`, src/core/db.py `write_session`), its after-commit listeners run either way."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from src.core.db import write_session
from src.services.sql import commit


def _commits_seen(session: AsyncSession) -> list[Session]:
    seen: list[Session] = []
    event.listen(session.sync_session, "after_commit", seen.append)
    return seen


async def test_a_commit_with_nothing_begun_runs_the_listeners_and_begins_nothing(
    app: FastAPI,
) -> None:
    async with app.state.sessionmaker() as session:
        seen = _commits_seen(session)
        await commit(session)
        assert seen == [session.sync_session]
        assert not session.in_transaction()


async def test_a_commit_of_a_begun_transaction_commits_it(app: FastAPI) -> None:
    async with app.state.sessionmaker() as session:
        seen = _commits_seen(session)
        await session.execute(text("SELECT 1"))
        assert session.in_transaction()
        await commit(session)
        assert seen == [session.sync_session]
        assert not session.in_transaction()


@pytest.fixture
def closes(monkeypatch: pytest.MonkeyPatch) -> list[AsyncSession]:
    """The sessions closed from now on."""
    closed: list[AsyncSession] = []
    close = AsyncSession.close

    async def counted(self: AsyncSession) -> None:
        closed.append(self)
        await close(self)

    monkeypatch.setattr(AsyncSession, "close", counted)
    return closed


async def test_a_write_session_that_began_nothing_is_not_closed(
    app: FastAPI, closes: list[AsyncSession]
) -> None:
    async with write_session(app.state.sessionmaker) as session:
        await commit(session)
    assert closes == []


async def test_a_write_session_left_in_a_transaction_is_closed_and_rolled_back(
    app: FastAPI, closes: list[AsyncSession]
) -> None:
    with pytest.raises(LookupError):
        async with write_session(app.state.sessionmaker) as session:
            await session.execute(text("SELECT 1"))
            raise LookupError("the write failed halfway")
    assert closes == [session]
    assert not session.in_transaction()
