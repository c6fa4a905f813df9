"""The tags this worker last sent, and the database state they were read at.

A bounded map from a request (path, query, credential) to the tag of its last `200` and the
commit state it was read at (src/services/freshness.py). A conditional `GET` whose tag matches an
entry whose state is still the database's is answered `304` without reading or rendering the
page (docs/performance.md, "Conditional requests"). It is a cache of what this worker has
verified, not shared state: another worker, or a restart, only misses and reads the page as
before.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.types import Scope

from src.api.etags import parse_entity_tags

Key = tuple[str, bytes, str]
Headers = list[tuple[bytes, bytes]]

# Where a read that may be remembered leaves its key and commit state for the conditional layer.
SCOPE_KEY = "conduit.validator"


@dataclass(frozen=True, slots=True)
class Validated:
    tag: str
    version: str
    not_modified: Headers  # what a 304 for it says: ETag, Cache-Control, Vary


def request_key(scope: Scope, authorization: str | None) -> Key:
    """What a GET's body depends on besides the database: its path, query and credential
    (the Authorization header as conditional.request_headers reads it)."""
    return scope["path"], scope["query_string"], authorization or ""


class Validators:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: dict[Key, Validated] = {}

    def fresh(self, key: Key, version: str, if_none_match: str) -> Validated | None:
        """The entry for `key` if the database is where it was read and the client has its tag."""
        entry = self._entries.get(key)
        if entry is None or entry.version != version:
            return None
        return entry if parse_entity_tags(if_none_match).weakly_match(entry.tag) else None

    def remember(self, key: Key, entry: Validated) -> None:
        entries = self._entries
        entries.pop(key, None)
        if len(entries) >= self.capacity:  # the oldest goes: insertion order
            del entries[next(iter(entries))]
        entries[key] = entry
