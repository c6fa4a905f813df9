from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from src.models.base import Base, UTCDateTime, utc_now
from src.models.id_lists import IdList

SLUG_MAX_LENGTH = 300
TAG_MAX_LENGTH = 64


class Article(Base):
    __tablename__ = "articles"
    __table_args__ = (
        # Newest-first pages, globally and per author; id breaks ties so pages never overlap.
        Index("ix_articles_created_at_id", "created_at", "id"),
        Index("ix_articles_author_id_created_at_id", "author_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(SLUG_MAX_LENGTH), unique=True)
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(String(1000))
    body: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # Maintained in the same transaction as the favorites rows (see services/favorites.py).
    favorites_count: Mapped[int] = mapped_column(Integer, default=0)
    # The names of its tags, sorted, as a compact JSON array: a copy written with its
    # article_tags rows (services/articles: create, _replace_tags; tags are never renamed),
    # so a page reads each article's tags from its own row (migration 0007).
    tag_names: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(TAG_MAX_LENGTH), unique=True)
    # Maintained count behind ?tag= and the /api/tags ranking (src/services/counters.py).
    articles_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ArticleTag(Base):
    __tablename__ = "article_tags"
    __table_args__ = (
        # ?tag= pages as a range scan of the newest entries, not a sort of the whole tag.
        Index("ix_article_tags_tag_id_order", "tag_id", "article_created_at", "article_id"),
    )

    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)
    # The article's created_at, copied (it never changes): the page order key (migration 0004).
    article_created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Favorite(Base):
    __tablename__ = "favorites"
    __table_args__ = (
        # ?favorited= pages as a range scan of the user's newest favorited articles; with
        # ?tag= too, an index-only scan (the article's tag ids included).
        Index(
            "ix_favorites_user_id_order",
            "user_id",
            "article_created_at",
            "article_id",
            postgresql_include=["article_tag_ids"],
        ),
    )

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    # The favorited article's created_at, copied: the page order key (migration 0004).
    article_created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The favorited article's tag ids, copied and kept with its tag edits: ?favorited= with
    # ?tag= reads them here instead of probing article_tags (migration 0021).
    article_tag_ids: Mapped[list[int]] = mapped_column(IdList())
