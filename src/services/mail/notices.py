"""Security notices to an account's address: the password, the e-mail address or an API key
changed. Call them inside the write's transaction (its session): the notice goes out once it
commits, after the response."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from src.services.mail.outbox import enqueue_message


async def password_changed(session: AsyncSession, *, email: str, username: str) -> None:
    await enqueue_message(session, "password_changed", email, {"username": username})


async def email_changed(
    session: AsyncSession, *, old_email: str, new_email: str, username: str
) -> None:
    """Sent to the old address: whoever held it learns where the account went."""
    context = {"username": username, "old_email": old_email, "new_email": new_email}
    await enqueue_message(session, "email_changed", old_email, context)


async def api_key_created(
    session: AsyncSession, *, email: str, username: str, key_name: str
) -> None:
    context = {"username": username, "key_name": key_name}
    await enqueue_message(session, "api_key_created", email, context)
