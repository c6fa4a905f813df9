"""Has the database committed anything since a page was read? The cheap side of a 304.

A page's tag is the hash of its body, and checking a tag means building the body again. On
PostgreSQL a read can ask instead whether anything was committed since the page was last read:
`pg_current_snapshot()` (the transactions still in progress, and one past the last to end) changes
whenever a transaction that wrote ends, and while it stays the same no page can have changed
(docs/performance.md, "Conditional requests"). SQLite offers no such value shared by its
connections.
"""

from __future__ import annotations

import asyncio
import typing
from typing import Any

from sqlalchemy import Select, Text, cast, func, select

from src.core.reads import OpenReads, Reads
from src.services.auth import Viewer, checks_session, viewer_live, viewer_params

# The commit state and, for a caller known by an access token, whether its session is live:
# a session ended or expired since the page was read must not get a 304.
_VERSION = typing.cast(
    "Select[Any]",
    select(cast(func.pg_current_snapshot(), Text).label("version"), viewer_live()),
)


async def data_version(reads: Reads, viewer: Viewer | None) -> str | None:
    """The database's commit state now, for this viewer; None when it cannot say (SQLite) or
    the viewer's session is not live (the full read then answers, with its 401)."""
    if reads.dialect != "postgresql":
        return None
    row: Any = await reads.first(_VERSION, viewer_params(viewer))
    if row is None or (checks_session(viewer) and not row["viewer_live"]):
        return None
    version: str = row["version"]
    return version


class SharedCommitState:
    """The commit state for anonymous callers, one statement for all who ask at once.

    A caller may take the answer of a statement that starts after it asked (it sees every
    commit made before the caller's request, and a later one only makes the answer newer,
    never a stale 304), never one already running. So callers join the next statement while
    it has not started; once it starts, later callers wait for the one after. Under load the
    hot reads' anonymous 304s then share a round trip instead of each taking a connection
    (docs/performance.md, "Conditional requests"). Signed-in callers need their own session
    checked: they use data_version.
    """

    def __init__(self, open_reads: OpenReads) -> None:
        self._open_reads = open_reads
        self._next: asyncio.Future[str | None] | None = None
        self._running: set[asyncio.Task[None]] = set()  # held: a task only weakly referenced may go

    async def now(self) -> str | None:
        answer = self._next
        if answer is None:
            loop = asyncio.get_running_loop()
            answer = self._next = loop.create_future()
            task = loop.create_task(self._read(answer))
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        # Shielded: a caller that goes away does not cancel the others' answer.
        return await asyncio.shield(answer)

    async def _read(self, answer: asyncio.Future[str | None]) -> None:
        self._next = None  # from here on, callers wait for the next statement
        try:
            async with self._open_reads() as reads:
                version = await data_version(reads, None)
        except Exception as exc:  # each waiting caller raises it (a 503 for DatabaseUnavailable)
            answer.set_exception(exc)
        else:
            answer.set_result(version)
