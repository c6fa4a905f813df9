"""What services hand back to the API layer: plain, immutable read models."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, NotRequired, TypedDict

from src.services.cursors import Keyset


@dataclass(frozen=True, slots=True)
class AuthenticatedUser:
    id: int
    email: str
    username: str
    bio: str | None
    image: str | None
    token: str
    refresh_token: str | None = None  # only when a session was just opened or refreshed
    email_verified: bool = False  # the address was confirmed by a link sent to it


# Built per comment: NamedTuples, immutable like frozen dataclasses and about five times
# cheaper to build (frozen dataclasses assign each field through object.__setattr__).
class ProfileView(NamedTuple):
    username: str
    bio: str | None
    image: str | None
    following: bool


class ArticleView(TypedDict):
    """An article as its read statement returns it (services/article_queries.py), handed to the
    API as that very row and read by column name: asyncpg's Record and SQLAlchemy's RowMapping
    both read this way. A page builds no object per article on its way to the JSON
    (docs/performance.md, "The request path"). Rows carry other columns too (`id`, a page's
    `total`, the viewer's session check); these are the ones the API reads."""

    slug: str
    title: str
    description: str
    body: NotRequired[str]  # single-article reads only: lists leave it out (the spec since 2024-08)
    tags: str | None  # `articles.tag_names`, sorted JSON text: services.sql.decode_tag_names
    created_at: datetime
    updated_at: datetime
    favorited: bool  # SQLite answers 0 or 1: read it with bool()
    favorites_count: int
    username: str  # the author's profile, and whether the viewer follows them
    bio: str | None
    image: str | None
    following: bool


@dataclass(frozen=True, slots=True)
class ArticlePage:
    articles: Sequence[ArticleView]
    articles_count: int
    next: Keyset | None = None  # the last article's position when another page follows


@dataclass(frozen=True, slots=True)
class CommentPage:
    comments: Sequence[CommentView]
    next: Keyset | None = None  # the last comment's position when another page follows


class CommentView(NamedTuple):
    id: int
    created_at: datetime
    updated_at: datetime
    body: str
    author: ProfileView
