"""Page cursors: a page's last (created_at, id), signed and bound to the list it came from.

A cursor is 44 base64url characters: a version byte, the position (microseconds since the
epoch and the row id, 8 bytes each) and 16 bytes of HMAC-SHA256 under a key derived from the
secret key, over the version, the position and the list's scope (which list, its filters, the
feed's reader, the article). A cursor that was altered, signed under another key or issued for
another list fails the same constant-time check, before its position is read. Its length is
bounded by the query parameter's declaration before anything here sees it
(docs/performance.md, "Cursor pages").
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import orjson

from src.services import messages
from src.services.errors import Invalid

FIELD = "cursor"
VERSION = 1
_POSITION = struct.Struct(">Bqq")  # version, microseconds since the epoch, row id
_MAC_BYTES = 16
_RAW_BYTES = _POSITION.size + _MAC_BYTES
LENGTH = 44  # base64url of _RAW_BYTES, no padding needed
MAX_LENGTH = 64  # the query parameter's bound: room for a longer version, no more
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Keyset:
    """Where a page in newest-first order stops: the next page starts strictly after it."""

    created_at: datetime
    id: int


def scope(kind: str, *values: object) -> bytes:
    """What a cursor is bound to: the list's kind and the values that select its rows."""
    return orjson.dumps([kind, *values])


class CursorCodec:
    """Signs and reads cursors under one key."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, position: bytes, bound_to: bytes) -> bytes:
        signed = hmac.new(self._key, position, hashlib.sha256)
        signed.update(bound_to)
        return signed.digest()[:_MAC_BYTES]

    def sign(self, bound_to: bytes, at: Keyset) -> str:
        micros = (at.created_at - _EPOCH) // _MICROSECOND
        position = _POSITION.pack(VERSION, micros, at.id)
        raw = position + self._mac(position, bound_to)
        return base64.urlsafe_b64encode(raw).decode()

    def read(self, bound_to: bytes, text: str) -> Keyset:
        """The position of a cursor this codec signed for `bound_to`; 422 for anything else."""
        if len(text) != LENGTH:
            raise _invalid()
        try:
            raw = base64.b64decode(text.encode("ascii"), altchars=b"-_", validate=True)
        except (binascii.Error, UnicodeEncodeError):
            raise _invalid() from None
        position, mac = raw[: _POSITION.size], raw[_POSITION.size :]
        if not hmac.compare_digest(mac, self._mac(position, bound_to)):
            raise _invalid()
        version, micros, row_id = _POSITION.unpack(position)
        if version != VERSION:  # not reached: only this version is ever signed
            raise _invalid()
        return Keyset(_EPOCH + micros * _MICROSECOND, row_id)


def _invalid() -> Invalid:
    return Invalid(messages.CURSOR_INVALID, field=FIELD)


@lru_cache(maxsize=4)
def codec_for(secret: str) -> CursorCodec:
    """The codec of a secret key (one per app, cached): a key of its own, derived from it."""
    return CursorCodec(hmac.new(secret.encode(), b"conduit page cursor", hashlib.sha256).digest())
