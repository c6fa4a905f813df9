"""The API key's secret: its recognizable shape, checked in linear time before any lookup.

`cdt_` + a 12-character id + 32 random characters + a 6-character checksum, all base62 (as
GitHub's tokens: the prefix lets secret scanners find a leaked key, the checksum lets them tell
a real one from a look-alike without asking us). The id names the stored row; the row keeps only
the secret's SHA-256 (docs/api-keys.md).
"""

from __future__ import annotations

import secrets
import zlib

PREFIX = "cdt_"
ID_LENGTH = 12
RANDOM_LENGTH = 32  # about 190 bits
CHECKSUM_LENGTH = 6  # base62 of a CRC32 (62**6 > 2**32)
LENGTH = len(PREFIX) + ID_LENGTH + RANDOM_LENGTH + CHECKSUM_LENGTH
# What a key's list shows to tell keys apart: the prefix and the id, never the secret.
DISPLAY_LENGTH = len(PREFIX) + ID_LENGTH

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _random(length: int) -> str:
    return "".join(secrets.choice(_BASE62) for _ in range(length))


def _checksum(body: str) -> str:
    value = zlib.crc32(body.encode("ascii"))
    digits = []
    for _ in range(CHECKSUM_LENGTH):
        value, digit = divmod(value, 62)
        digits.append(_BASE62[digit])
    return "".join(reversed(digits))


def new_key() -> tuple[str, str]:
    """(id, secret) of a new key."""
    key_id = _random(ID_LENGTH)
    body = PREFIX + key_id + _random(RANDOM_LENGTH)
    return key_id, body + _checksum(body)


def is_api_key(token: str) -> bool:
    """Whether a credential is meant as an API key (a JWT never starts with the prefix)."""
    return token.startswith(PREFIX)


def key_id_of(token: str) -> str | None:
    """The id of a well-formed key; None for anything else. Length first, then one pass over
    at most LENGTH ASCII characters: nothing unbounded reaches the checksum or the database."""
    if len(token) != LENGTH or not token.startswith(PREFIX):
        return None
    tail = token[len(PREFIX) :]
    if not (tail.isascii() and tail.isalnum()):
        return None
    body, checksum = token[:-CHECKSUM_LENGTH], token[-CHECKSUM_LENGTH:]
    if not secrets.compare_digest(_checksum(body), checksum):
        return None
    return tail[:ID_LENGTH]


def display_prefix(key_id: str) -> str:
    return PREFIX + key_id
