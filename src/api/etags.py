"""Entity tags (RFC 9110, 8.8.3 and 13.1): what they are made of, and how requests name them.

A response's tag is a hash of its identity body (the bytes before any content coding). A
compressed response carries the same hash with its coding appended (`"<hash>-gzip"`), so each
representation's strong tag is its own; a tag the client sends is compared by its hash alone,
whichever coding it came with (docs/performance.md, "Conditional requests").
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Header

from src.api.http_headers import CODINGS
from src.services.preconditions import Precondition

Current = TypeVar("Current")

_SUFFIXES = tuple(f"-{coding}" for coding in CODINGS)


def entity_tag(body: bytes) -> str:
    """The strong tag of an identity body, quoted."""
    return f'"{hashlib.blake2b(body, digest_size=16).hexdigest()}"'


def coded(tag: bytes, coding: bytes) -> bytes:
    """The tag of the same body sent in `coding`: `"h"` -> `"h-gzip"`."""
    return tag[:-1] + b"-" + coding + b'"'


def _hash_of(opaque: str) -> str:
    """The body's hash a tag names, whichever coding it was sent with."""
    for suffix in _SUFFIXES:
        if opaque.endswith(suffix):
            return opaque[: -len(suffix)]
    return opaque


@dataclass(frozen=True)
class EntityTags:
    """A parsed If-Match or If-None-Match: `*`, or the tags listed (weak ones apart)."""

    any: bool
    strong: frozenset[str]
    weak: frozenset[str]

    def weakly_match(self, tag: str) -> bool:
        """If-None-Match's comparison: a weak tag matches as well as a strong one."""
        hashed = _hash_of(tag.strip('"'))
        return self.any or hashed in self.strong or hashed in self.weak

    def strongly_match(self, tag: str) -> bool:
        """If-Match's comparison: only a strong tag can match."""
        return self.any or _hash_of(tag.strip('"')) in self.strong


def parse_entity_tags(value: str) -> EntityTags:
    """`*` or a list of `"tag"` / `W/"tag"`; anything unreadable in between is skipped. One pass
    over the value, whose length the server already bounds (MAX_HEADER_BYTES)."""
    text = value.strip()
    if text == "*":
        return EntityTags(True, frozenset(), frozenset())
    strong: set[str] = set()
    weak: set[str] = set()
    index, size = 0, len(text)
    while index < size:
        is_weak = text.startswith("W/", index)
        start = index + 2 if is_weak else index
        if start < size and text[start] == '"':
            end = text.find('"', start + 1)
            if end < 0:
                break
            (weak if is_weak else strong).add(_hash_of(text[start + 1 : end]))
            index = end + 1
        else:
            comma = text.find(",", index)
            if comma < 0:
                break
            index = comma + 1
        while index < size and text[index] in " \t,":
            index += 1
    return EntityTags(False, frozenset(strong), frozenset(weak))


# A write's If-Match: the tag of the resource as the client last read it (`GET`), or `*`.
IfMatchHeader = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description="The resource's `ETag` as last read (or `*`): the write is refused with 412 "
        "if the resource changed since. Weak tags (`W/...`) never match.",
    ),
]


def if_match(
    header: str | None, render: Callable[[Current], bytes], about: str
) -> Precondition[Current] | None:
    """The service-level precondition of a write's If-Match: the current resource, rendered as
    its `GET` renders it, must have one of the strong tags named."""
    if header is None:
        return None
    tags = parse_entity_tags(header)
    return Precondition(lambda current: tags.strongly_match(entity_tag(render(current))), about)
