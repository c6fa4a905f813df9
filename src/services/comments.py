"""Comments on articles."""

from __future__ import annotations

from sqlalchemy import Row, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from src.models import Comment, User
from src.models.base import utc_now
from src.services import messages
from src.services.articles import find_article
from src.services.errors import Forbidden, NotFound
from src.services.roles import is_admin
from src.services.sql import is_following
from src.services.views import CommentView, ProfileView


def _comment_query(viewer_id: int | None):  # type: ignore[no-untyped-def]
    return select(
        Comment.id,
        Comment.created_at,
        Comment.updated_at,
        Comment.body,
        User.username,
        User.bio,
        User.image,
        is_following(viewer_id, Comment.author_id).label("following"),
    ).join(User, User.id == Comment.author_id)


def _to_view(row: Row[tuple[object, ...]]) -> CommentView:
    m = row._mapping
    return CommentView(
        id=m["id"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        body=m["body"],
        author=ProfileView(
            username=m["username"],
            bio=m["bio"],
            image=m["image"],
            following=bool(m["following"]),
        ),
    )


async def add_comment(session: AsyncSession, slug: str, author: User, body: str) -> CommentView:
    article = await find_article(session, slug)
    now = utc_now()
    comment = Comment(
        body=body, article_id=article.id, author_id=author.id, created_at=now, updated_at=now
    )
    session.add(comment)
    try:
        await session.commit()
    except IntegrityError:
        # The article was deleted between our lookup and the insert: its foreign key refuses us.
        await session.rollback()
        raise NotFound(messages.ARTICLE_NOT_FOUND, field="article") from None
    row = (await session.execute(_comment_query(author.id).where(Comment.id == comment.id))).first()
    if row is None:  # the article was deleted (its comments with it) right after our commit
        raise NotFound(messages.ARTICLE_NOT_FOUND, field="article")
    return _to_view(row)


async def list_comments(
    session: AsyncSession, slug: str, viewer_id: int | None
) -> list[CommentView]:
    """Newest first, in one statement whatever the number of comments."""
    article = await find_article(session, slug)
    rows = await session.execute(
        _comment_query(viewer_id)
        .where(Comment.article_id == article.id)
        .order_by(Comment.created_at.desc(), Comment.id.desc())
    )
    return [_to_view(row) for row in rows]


async def delete_comment(session: AsyncSession, slug: str, comment_id: int, user: User) -> None:
    """The comment's author or the article's author may delete it."""
    article = await find_article(session, slug)
    comment = await session.scalar(
        select(Comment).where(Comment.id == comment_id, Comment.article_id == article.id)
    )
    if comment is None:
        raise NotFound(messages.COMMENT_NOT_FOUND, field="comment")
    if user.id not in (comment.author_id, article.author_id) and not is_admin(user):
        raise Forbidden(messages.NOT_COMMENT_AUTHOR, field="comment")
    await session.delete(comment)
    await session.commit()
