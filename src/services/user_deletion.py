"""Deleting an account: its rows go by cascade, and every count they fed moves in step.

Foreign keys (ON DELETE CASCADE, on both databases) remove the user's articles, comments,
favorites, follows and sessions. What a cascade cannot do is keep the maintained counts right
(src/services/counters.py): the user's favorites fed other people's `favoritesCount`, and the
user's articles fed their fans' favorites count, their tags' counts, the global total and the
feeds of the user's followers (src/services/feeds.py; feed entries hold no foreign key), nor
delete an uploaded picture from object storage (a `media.delete` job, enqueued here). All
of that moves here, by relative updates computed from the rows about to go, in the same
transaction as the delete: concurrent writers still serialize on the row locks, none is lost.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from src.core.config import Settings
from src.core.db import OpenSession
from src.core.reads import OpenReads
from src.models import Article, ArticleTag, Favorite, Tag, User
from src.models.base import utc_now
from src.services import admin, auth, counters, feeds, messages, users
from src.services.errors import Forbidden, NotFound, Unauthorized
from src.services.media import user_images
from src.services.preconditions import Precondition, require


@dataclass(frozen=True, slots=True)
class Proof:
    """What a caller deleting their own account proved: the password hash it was proven
    against, and the session it was proven in. Both must still hold under the lock."""

    password_hash: str
    session_id: str
    precondition: Precondition[User] | None = None  # the client's If-Match


async def delete_account(
    open_session: OpenSession,
    open_reads: OpenReads,
    settings: Settings,
    user: User,
    session_id: str,
    current_password: str | None,
    precondition: Precondition[User] | None = None,
) -> None:
    """The caller deletes their own account, after the proof a new email or password needs
    (users.prove_password). No connection is held while the password is checked."""
    require(precondition, user)  # stale already: refused before any password work
    await users.prove_password(
        open_reads,
        settings,
        user,
        session_id,
        current_password,
        required=messages.CURRENT_PASSWORD_REQUIRED_TO_DELETE,
    )
    async with open_session() as session:
        proof = Proof(user.password_hash, session_id, precondition)
        await delete_user(session, user.id, proof=proof)


async def delete_by_username(session: AsyncSession, username: str) -> None:
    """An operator's deletion (`conduit delete-user`): by username, in any case."""
    user_id = await session.scalar(
        select(User.id).where(func.lower(User.username) == username.lower())
    )
    if user_id is None:
        raise NotFound(messages.NOT_FOUND, field="user")
    await delete_user(session, user_id)


async def _check_proof(session: AsyncSession, user: User, proof: Proof) -> None:
    """The session ended, or the password changed, while the proof was checked: refused."""
    live = await session.scalar(select(auth.session_is_live(user.id, proof.session_id, utc_now())))
    if not live:
        raise Unauthorized(messages.TOKEN_INVALID, field="token")
    if user.password_hash != proof.password_hash:
        raise Forbidden(messages.CURRENT_PASSWORD_INVALID, field="currentPassword")
    require(proof.precondition, user)  # on the row locked for the deletion


async def delete_user(session: AsyncSession, user_id: int, *, proof: Proof | None = None) -> None:
    """Delete the user and everything they own; commits. Unknown id -> NotFound; the last
    active admin -> Conflict (as for deactivation); a proof that no longer holds -> refused."""
    user, admins = await admin.lock_admins_and(session, user_id)
    if user is None:
        raise NotFound(messages.NOT_FOUND, field="profile")
    if proof is not None:
        await _check_proof(session, user, proof)
    admin.refuse_last_admin(user, admins, messages.LAST_ACTIVE_ADMIN_DELETED)
    # Lock order as in counters.py: article rows, then users by id, then tags, then the total.
    own_articles = select(Article.id).where(Article.author_id == user_id)
    favorited = select(Favorite.article_id).where(Favorite.user_id == user_id)
    await session.execute(
        select(Article.id)
        .where(Article.id.in_(own_articles) | Article.id.in_(favorited))
        .order_by(Article.id)
        .with_for_update()
    )
    n_articles = int(
        await session.scalar(select(func.count(Article.id)).where(Article.author_id == user_id))
        or 0
    )

    # Other people's articles this user favorited: one favorite less each.
    await session.execute(
        update(Article)
        .where(Article.id.in_(favorited), Article.author_id != user_id)
        .values(favorites_count=Article.favorites_count - 1)
    )
    # Fans of this user's articles: as many favorites less as they gave to them.
    fans_of_own = select(Favorite.user_id).where(
        Favorite.article_id.in_(own_articles), Favorite.user_id != user_id
    )
    fan_ids = sorted(set(await session.scalars(fans_of_own)))
    await counters.lock_users(session, fan_ids)
    given = (
        select(func.count())
        .select_from(Favorite)
        .where(Favorite.user_id == User.id, Favorite.article_id.in_(own_articles))
        .scalar_subquery()
    )
    await session.execute(
        update(User)
        .where(User.id.in_(fan_ids))
        .values(favorites_count=User.favorites_count - given)
        .execution_options(synchronize_session=False)
    )
    # Tags of this user's articles: as many articles less as carried them.
    carried = (
        select(func.count())
        .select_from(ArticleTag)
        .where(ArticleTag.tag_id == Tag.id, ArticleTag.article_id.in_(own_articles))
        .scalar_subquery()
    )
    tag_ids = sorted(
        set(
            await session.scalars(
                select(ArticleTag.tag_id).where(ArticleTag.article_id.in_(own_articles))
            )
        )
    )
    if tag_ids:
        await counters.lock_tags(session, tag_ids)
        await session.execute(
            update(Tag)
            .where(Tag.id.in_(tag_ids))
            .values(articles_count=Tag.articles_count - carried)
            .execution_options(synchronize_session=False)
        )
    if n_articles:
        await counters.bump_articles_total(session, -n_articles, user_id)
    # Its articles leave its followers' feeds; its own feed goes with it by cascade.
    await feeds.remove_author(session, user_id, n_articles)
    if user.image_key is not None:  # the uploaded picture goes by a job once this commits
        await user_images.forget(session, user.image_key)
    await session.execute(delete(User).where(User.id == user_id))
    await session.commit()
