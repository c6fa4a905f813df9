"""A user's own picture: upload (stored, then `user.image` points at it), removal, and the
cleanup of objects no longer referenced.

An object is stored before the row names it, and deleted only after the row stopped naming
it, by a `media.delete` job enqueued in that same transaction: a replaced, removed or deleted
account's picture goes at least once, retried by the job engine while the store is away
(docs/deploy.md, "Profile pictures")."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from src.core.config import Settings
from src.core.db import OpenSession
from src.models import User
from src.models.base import utc_now
from src.services import messages
from src.services.errors import NotFound
from src.services.jobs import JobContext, Payload, enqueue, job
from src.services.media import images
from src.services.media.storage import (
    MediaStorage,
    owner_of,
    storage_from_settings,
    user_image_key,
)

DELETE_JOB = "media.delete"
logger = logging.getLogger("conduit.media")


async def set_image(
    open_session: OpenSession,
    storage: MediaStorage,
    settings: Settings,
    user_id: int,
    data: bytes,
    declared: str | None,
) -> User:
    """Check, re-encode and store the picture, then make it the user's `image`; the previous
    stored picture is deleted once this commits. No connection is held while decoding."""
    picture = await images.prepare(data, declared, settings)
    key = user_image_key(user_id, picture.digest, images.EXTENSION)
    await storage.put(key, picture.data, picture.content_type)
    try:
        async with open_session() as session:
            user = await _locked_user(session, user_id)
            previous = user.image_key
            user.image_key = key
            user.image = storage.url(key)
            user.updated_at = utc_now()
            if previous is not None and previous != key:
                await forget(session, previous)
            await session.commit()
    except BaseException:
        await _delete_unless_referenced(open_session, storage, key)
        raise
    return user


async def remove_image(open_session: OpenSession, user_id: int) -> User:
    """Clear the user's `image`; a stored picture is deleted once this commits."""
    async with open_session() as session:
        user = await _locked_user(session, user_id)
        if user.image_key is not None:
            await forget(session, user.image_key)
        user.image_key = None
        user.image = None
        user.updated_at = utc_now()
        await session.commit()
    return user


async def forget(session: AsyncSession, key: str) -> None:
    """Delete the stored object `key` once the session's transaction commits (and only if its
    owner's row no longer names it by then)."""
    await enqueue(session, DELETE_JOB, {"key": key})


async def _locked_user(session: AsyncSession, user_id: int) -> User:
    user = await session.scalar(select(User).where(User.id == user_id).with_for_update())
    if user is None:  # deleted since its token was checked
        raise NotFound(messages.NOT_FOUND, field="user")
    return user


async def _still_referenced(session: AsyncSession, key: str) -> bool:
    owner = owner_of(key)
    named = await session.scalar(select(User.image_key).where(User.id == owner))
    return named == key


async def _delete_unless_referenced(
    open_session: OpenSession, storage: MediaStorage, key: str
) -> None:
    """After a failed upload: the object stored for it goes, unless the user's row names it
    (the same picture, uploaded before). Best effort: a failure here is logged."""
    try:
        async with open_session() as session:
            referenced = await _still_referenced(session, key)
        if not referenced:
            await storage.delete(key)
    except Exception:
        logger.warning("could not delete the unused picture %s", key, exc_info=True)


@job(DELETE_JOB)
async def _delete_object(context: JobContext, payload: Payload) -> None:
    """Idempotent: deleting a missing object succeeds; a key named again is kept."""
    key = str(payload["key"])
    if owner_of(key) is None or await _still_referenced(context.session, key):
        return
    await storage_from_settings(context.settings).delete(key)
