"""Data portability: everything the service holds about one user, as one document.

Sessions are listed without their secrets: no id (access tokens carry it), no refresh token
(only their digests are stored, and those stay too). One statement per kind of row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from src.models import Article, AuthSession, Comment, Favorite, Follow, User
from src.services import messages
from src.services.errors import NotFound
from src.services.sql import decode_tag_names


@dataclass(frozen=True, slots=True)
class ExportedProfile:
    username: str
    email: str
    bio: str | None
    image: str | None
    role: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ExportedArticle:
    slug: str
    title: str
    description: str
    body: str
    tag_list: list[str]
    favorites_count: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ExportedComment:
    id: int
    article: str  # the slug
    body: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ExportedFavorite:
    article: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ExportedFollow:
    username: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ExportedSession:
    current: bool  # the session this export was asked from
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    password_verified_at: datetime | None


@dataclass(frozen=True, slots=True)
class AccountExport:
    profile: ExportedProfile
    articles: list[ExportedArticle]
    comments: list[ExportedComment]
    favorites: list[ExportedFavorite]
    following: list[ExportedFollow]
    followers: list[ExportedFollow]
    sessions: list[ExportedSession]


async def export_account(session: AsyncSession, user_id: int, session_id: str) -> AccountExport:
    """The user's whole account, oldest rows first. Unknown id -> NotFound."""
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound(messages.NOT_FOUND, field="user")
    articles = await session.scalars(
        select(Article).where(Article.author_id == user_id).order_by(Article.id)
    )
    comments = await session.execute(
        select(Comment, Article.slug)
        .join(Article, Article.id == Comment.article_id)
        .where(Comment.author_id == user_id)
        .order_by(Comment.id)
    )
    favorites = await session.execute(
        select(Article.slug, Favorite.created_at)
        .join(Article, Article.id == Favorite.article_id)
        .where(Favorite.user_id == user_id)
        .order_by(Favorite.created_at, Article.id)
    )
    other = aliased(User)
    following = await session.execute(
        select(other.username, Follow.created_at)
        .join(other, other.id == Follow.followee_id)
        .where(Follow.follower_id == user_id)
        .order_by(Follow.created_at, other.id)
    )
    followers = await session.execute(
        select(other.username, Follow.created_at)
        .join(other, other.id == Follow.follower_id)
        .where(Follow.followee_id == user_id)
        .order_by(Follow.created_at, other.id)
    )
    auth_sessions = await session.scalars(
        select(AuthSession)
        .where(AuthSession.user_id == user_id)
        .order_by(AuthSession.created_at, AuthSession.id)
    )
    return AccountExport(
        profile=ExportedProfile(
            username=user.username,
            email=user.email,
            bio=user.bio,
            image=user.image,
            role=user.role,
            created_at=user.created_at,
            updated_at=user.updated_at,
        ),
        articles=[
            ExportedArticle(
                slug=a.slug,
                title=a.title,
                description=a.description,
                body=a.body,
                tag_list=decode_tag_names(a.tag_names),
                favorites_count=a.favorites_count,
                created_at=a.created_at,
                updated_at=a.updated_at,
            )
            for a in articles
        ],
        comments=[
            ExportedComment(c.id, slug, c.body, c.created_at, c.updated_at) for c, slug in comments
        ],
        favorites=[ExportedFavorite(slug, at) for slug, at in favorites],
        following=[ExportedFollow(name, at) for name, at in following],
        followers=[ExportedFollow(name, at) for name, at in followers],
        sessions=[
            ExportedSession(
                current=s.id == session_id,
                created_at=s.created_at,
                expires_at=s.expires_at,
                revoked_at=s.revoked_at,
                password_verified_at=s.password_verified_at,
            )
            for s in auth_sessions
        ],
    )
