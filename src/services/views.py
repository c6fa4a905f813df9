"""What services hand back to the API layer: plain, immutable read models."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple


@dataclass(frozen=True, slots=True)
class AuthenticatedUser:
    id: int
    email: str
    username: str
    bio: str | None
    image: str | None
    token: str
    refresh_token: str | None = None  # only when a session was just opened or refreshed


# Built per listed article (two per row): NamedTuples, immutable like frozen dataclasses and
# about five times cheaper to build (frozen dataclasses assign each field through
# object.__setattr__), which a 100-article page notices (issue 4).
class ProfileView(NamedTuple):
    username: str
    bio: str | None
    image: str | None
    following: bool


class ArticleView(NamedTuple):
    slug: str
    title: str
    description: str
    body: str | None  # None in lists: the spec leaves the body out there
    tag_list: list[str]
    created_at: datetime
    updated_at: datetime
    favorited: bool
    favorites_count: int
    author: ProfileView


@dataclass(frozen=True, slots=True)
class ArticlePage:
    articles: list[ArticleView]
    articles_count: int


class CommentView(NamedTuple):
    id: int
    created_at: datetime
    updated_at: datetime
    body: str
    author: ProfileView
