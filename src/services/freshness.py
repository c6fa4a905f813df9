"""Has the database committed anything since a page was read? The cheap side of a 304.

A page's tag is the hash of its body, and checking a tag means building the body again. On
PostgreSQL a read can ask instead whether anything was committed since the page was last read:
`pg_current_snapshot()` (the transactions still in progress, and one past the last to end) changes
whenever a transaction that wrote ends, and while it stays the same no page can have changed
(docs/performance.md, "Cheap 304s"). SQLite offers no such value shared by its connections.
"""

from __future__ import annotations

import typing
from typing import Any

from sqlalchemy import Select, Text, cast, func, select

from src.core.reads import Reads
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
