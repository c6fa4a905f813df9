"""Deleting an account: its rows go by cascade, and every count they fed moves in step.

Foreign keys (ON DELETE CASCADE, on both databases) remove the user's articles, comments,
favorites, follows and sessions. What a cascade cannot do is keep the maintained counts right
(src/services/counters.py): the user's favorites fed other people's `favoritesCount`, and the
user's articles fed their fans' favorites count, their tags' counts, the global total and the
feeds of the user's followers (src/services/feeds.py; feed entries hold no foreign key). All
of that moves here, by relative updates computed from the rows about to go, in the same
transaction as the delete: concurrent writers still serialize on the row locks, none is lost.
"""

from __future__ import annotations

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from src.models import Article, ArticleTag, Favorite, Tag, User
from src.services import counters, feeds, messages
from src.services.errors import NotFound


async def delete_user(session: AsyncSession, user_id: int) -> None:
    """Delete the user and everything they own; commits. Unknown id -> NotFound."""
    user = await session.scalar(select(User).where(User.id == user_id).with_for_update())
    if user is None:
        raise NotFound(messages.NOT_FOUND, field="profile")
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
        await session.execute(
            select(Tag.id).where(Tag.id.in_(tag_ids)).order_by(Tag.id).with_for_update()
        )
        await session.execute(
            update(Tag)
            .where(Tag.id.in_(tag_ids))
            .values(articles_count=Tag.articles_count - carried)
            .execution_options(synchronize_session=False)
        )
    if n_articles:
        await counters.bump_articles_total(session, -n_articles)
    # Its articles leave its followers' feeds; its own feed goes with it by cascade.
    await feeds.remove_author(session, user_id, n_articles)
    await session.execute(delete(User).where(User.id == user_id))
    await session.commit()
