"""Who is calling, whichever credential was sent: an access token (a JWT, its session checked
as src/services/auth.py does) or an API key (its row read on every request, its scopes
checked). Both doors of the reads and of the writes go through here (docs/api-keys.md)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from src.core import api_key_tokens
from src.core.config import Settings
from src.core.db import OpenSession
from src.core.reads import Reads, SessionReads
from src.models import User
from src.services import api_keys, auth, messages, scopes, verified_writers
from src.services.api_keys import KeyCaller
from src.services.auth import Viewer
from src.services.errors import Unauthorized

is_api_key = api_key_tokens.is_api_key


def _invalid() -> Unauthorized:
    return Unauthorized(messages.TOKEN_INVALID, field="token")


def key_id_of(token: str) -> str:
    """The key's id; a malformed key (wrong length, alphabet or checksum) is Unauthorized
    before anything looks it up."""
    key_id = api_key_tokens.key_id_of(token)
    if key_id is None:
        raise _invalid()
    return key_id


def refuse_key(token: str) -> None:
    """For routes that take no key (account changes, key management, sessions): a well-formed
    key is Forbidden, a malformed one Unauthorized; an access token passes."""
    if is_api_key(token):
        key_id_of(token)
        raise scopes.refuse_key()


async def key_caller(reads: Reads, token: str) -> KeyCaller:
    """The usable key's caller (Unauthorized: malformed, unknown, revoked, expired, or its
    owner deactivated)."""
    caller = await api_keys.caller_of(reads, key_id_of(token), token)
    if caller is None:
        raise _invalid()
    return caller


@dataclass(frozen=True, slots=True)
class Holder:
    """Whom a credential speaks for, and which API key it is (None: an access token)."""

    viewer: Viewer
    key_id: str | None


async def holder_of(session: AsyncSession, settings: Settings, token: str) -> Holder:
    """The user id of a credential, whatever its scopes (the route checks those): an access
    token's viewer, its session left to the statement that uses it, or a usable key's owner,
    the key read in `session` (its use recorded there, committed with it). Unauthorized as
    key_caller, or for a bad token."""
    if not is_api_key(token):
        return Holder(auth.viewer_of(token, settings), None)
    caller = await key_caller(SessionReads(session), token)
    if caller.needs_touch:
        await api_keys.touch(session, caller.key_id)
    return Holder(Viewer(caller.user_id), caller.key_id)


async def viewer_of(
    reads: Reads, open_session: OpenSession, settings: Settings, token: str
) -> Viewer:
    """Who reads: an access token's viewer (its session checked by the read's own statement),
    or a key's owner, the key checked here and needing the `read` scope."""
    if not is_api_key(token):
        return auth.viewer_of(token, settings)
    caller = await key_caller(reads, token)
    scopes.require(caller.scopes, scopes.READ)
    if caller.needs_touch:
        async with open_session() as session:
            await api_keys.touch(session, caller.key_id)
            await session.commit()
    return Viewer(caller.user_id)  # checked just now: the read trusts the id as it is


async def writer_of(session: AsyncSession, settings: Settings, token: str, scope: str) -> Viewer:
    """As viewer_of, for a write that a key with `scope` may make and that needs only its
    caller's id: the key is read in the write's own session (its last use recorded there,
    committed with the write); an access token's session is the write's statement to check.
    A write only verified accounts may make (verified_writers) reads its caller's account."""
    if verified_writers.restricts(settings, scope):
        return Viewer((await user_of(session, settings, token, scope)).id)
    if not is_api_key(token):
        return auth.viewer_of(token, settings)
    caller = await key_caller(SessionReads(session), token)
    scopes.require(caller.scopes, scope)
    if caller.needs_touch:
        await api_keys.touch(session, caller.key_id)
    return Viewer(caller.user_id)


async def user_of(
    session: AsyncSession,
    settings: Settings,
    token: str,
    scope: str,
    touch_apart: OpenSession | None = None,
) -> User:
    """The caller of a request that a key with `scope` may make (an access token may make
    any). A key's last use is recorded in the session's own transaction, committed with the
    write, or for a session that never writes (a GET's) in one of `touch_apart`. An unverified
    caller of a write only verified accounts may make is Forbidden (verified_writers)."""
    if is_api_key(token):
        user = await _key_owner(session, token, scope, touch_apart)
    else:
        user = await auth.user_from_token(session, settings, token)
    verified_writers.require_verified(settings, scope, user)
    return user


async def _key_owner(
    session: AsyncSession, token: str, scope: str, touch_apart: OpenSession | None
) -> User:
    found = await api_keys.owner_of(session, key_id_of(token), token)
    if found is None:
        raise _invalid()
    user, caller = found
    scopes.require(caller.scopes, scope)
    if caller.needs_touch:
        await _touch(session, caller.key_id, touch_apart)
    return user


async def _touch(session: AsyncSession, key_id: str, touch_apart: OpenSession | None) -> None:
    if touch_apart is None:
        await api_keys.touch(session, key_id)
        return
    async with touch_apart() as apart:
        await api_keys.touch(apart, key_id)
        await apart.commit()
