"""The account's address: verification, e-mail change by confirmation, password reset.

Tokens: src/services/account_tokens.py. Messages go out through the `mail.send` job
(src/services/mail), enqueued in the transaction of the write they report.
"""

from __future__ import annotations

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from src.core import security
from src.core.config import Settings
from src.core.db import OpenSession
from src.models import User
from src.models.account_token import (
    PURPOSE_CHANGE_EMAIL,
    PURPOSE_RESET_PASSWORD,
    PURPOSE_VERIFY_EMAIL,
)
from src.models.base import utc_now
from src.services import account_tokens, messages, sessions
from src.services.errors import Invalid
from src.services.jobs import JobContext, Payload, enqueue, job
from src.services.mail import notices
from src.services.mail.outbox import enqueue_message
from src.services.sql import AnySelect, rows_matched

RESET_JOB = "account.password_reset"
RESET = frozenset({PURPOSE_RESET_PASSWORD})
VERIFY = frozenset({PURPOSE_VERIFY_EMAIL, PURPOSE_CHANGE_EMAIL})


async def send_verification(
    session: AsyncSession, settings: Settings, *, user_id: int, email: str, username: str
) -> None:
    """Mail a verification link to the account's (current) address, in this transaction."""
    ttl = settings.email_verification_ttl_seconds
    nonce = await account_tokens.issue(
        session,
        settings,
        user_id=user_id,
        purpose=PURPOSE_VERIFY_EMAIL,
        email=email,
        bound_to=email,
        ttl_seconds=ttl,
    )
    context = {"username": username, "email": email, "hours": ttl // 3600}
    await enqueue_message(session, "verify_email", email, context, token_nonce=nonce)


async def email_change(
    session: AsyncSession,
    settings: Settings,
    user: User,
    new_email: str,
    *,
    username: str,
    applied: bool,
) -> None:
    """After PUT /api/user wrote a new address (`applied`): a notice to the old one and a
    verification link to the new. Not applied (EMAIL_CHANGE_REQUIRES_CONFIRMATION): a
    confirmation link to the new address; the change waits for it."""
    if applied:
        await notices.email_changed(
            session, old_email=user.email, new_email=new_email, username=username
        )
        await send_verification(
            session, settings, user_id=user.id, email=new_email, username=username
        )
        return
    ttl = settings.email_verification_ttl_seconds
    nonce = await account_tokens.issue(
        session,
        settings,
        user_id=user.id,
        purpose=PURPOSE_CHANGE_EMAIL,
        email=new_email,
        bound_to=user.email,
        ttl_seconds=ttl,
    )
    context = {"username": username, "email": new_email, "hours": ttl // 3600}
    await enqueue_message(session, "change_email", new_email, context, token_nonce=nonce)


async def resend_verification(open_session: OpenSession, settings: Settings, user: User) -> None:
    """A new verification link to the current address; nothing when it is verified already."""
    if user.email_verified_at is not None:
        return
    async with open_session() as session:
        await send_verification(
            session, settings, user_id=user.id, email=user.email, username=user.username
        )
        await session.commit()


async def verify_email(open_session: OpenSession, token: str) -> None:
    """Follow a verification or e-mail change link: the address is verified (and, for a
    change, becomes the account's). Invalid when the token is unusable, or when the new
    address was taken meanwhile."""
    async with open_session() as session:
        redeemed = await account_tokens.redeem(session, token, VERIFY)
        user, now = redeemed.user, utc_now()
        if redeemed.purpose == PURPOSE_VERIFY_EMAIL:
            await session.execute(
                update(User)
                .where(User.id == user.id, User.email == redeemed.email)
                .values(email_verified_at=now)
                .execution_options(synchronize_session=False)
            )
            await session.commit()
            return
        try:
            await session.execute(
                update(User)
                .where(User.id == user.id, User.email == user.email)
                .values(email=redeemed.email, email_verified_at=now, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            await notices.email_changed(
                session, old_email=user.email, new_email=redeemed.email, username=user.username
            )
            await session.commit()
        except IntegrityError:  # another account took the address since the link was sent
            await session.rollback()
            raise Invalid(messages.TAKEN, field="email") from None


async def request_password_reset(open_session: OpenSession, email: str) -> None:
    """Queue the reset for `email`, whoever has it (or nobody): the request does the same
    work either way, so neither its answer nor its timing tells whether the address exists.
    The job looks the account up."""
    async with open_session() as session:
        await enqueue(session, RESET_JOB, {"email": email})
        await session.commit()


_ACTIVE_BY_EMAIL: AnySelect = select(User).where(
    User.email == bindparam("email"), User.is_active.is_(True)
)


@job(RESET_JOB)
async def _send_password_reset(context: JobContext, payload: Payload) -> None:
    """Each run mails a fresh link (a retry may mail two; both work until one is used)."""
    session, settings = context.session, context.settings
    user = await session.scalar(_ACTIVE_BY_EMAIL, {"email": payload["email"]})
    if user is None:
        return
    ttl = settings.password_reset_ttl_seconds
    nonce = await account_tokens.issue(
        session,
        settings,
        user_id=user.id,
        purpose=PURPOSE_RESET_PASSWORD,
        email=user.email,
        bound_to=user.password_hash,
        ttl_seconds=ttl,
    )
    message = {"username": user.username, "minutes": ttl // 60}
    await enqueue_message(session, "password_reset", user.email, message, token_nonce=nonce)


async def reset_password(
    open_session: OpenSession, settings: Settings, token: str, password: str
) -> None:
    """Set a new password with a reset token: the token is used up, every session of the
    account ends, and a notice goes to its address. The token is checked before the password
    is hashed, and no connection is held while it is."""
    async with open_session() as session:
        await account_tokens.check(session, token, RESET)
    new_hash = await security.hash_password(password, settings)
    async with open_session() as session:
        redeemed = await account_tokens.redeem(session, token, RESET)
        user, now = redeemed.user, utc_now()
        values: dict[str, object] = {"password_hash": new_hash, "updated_at": now}
        if user.email_verified_at is None and redeemed.email == user.email:
            values["email_verified_at"] = now  # the link reached the address: it is verified
        written = await session.execute(
            update(User)
            .where(User.id == user.id, User.password_hash == user.password_hash)
            .values(values)
            .execution_options(synchronize_session=False)
        )
        if rows_matched(written) != 1:  # the password changed since the token was read
            await session.rollback()
            raise Invalid(messages.ACCOUNT_TOKEN_INVALID, field="token")
        await sessions.end_all(session, user.id)
        await notices.password_changed(session, email=user.email, username=user.username)
        await session.commit()
