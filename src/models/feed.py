from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer
from sqlalchemy.orm import Mapped, mapped_column

from src.models.base import Base, UTCDateTime


class FeedCount(Base):
    """How many articles a user's feed holds: the feed's `articlesCount` in one lookup.

    A row of its own, not a column of `users`: every article moves the counts of all its
    author's followers, and those updates must not churn the users' rows that every page reads.
    """

    __tablename__ = "feed_counts"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    articles_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class FeedEntry(Base):
    """One article in one follower's feed: the feed, fanned out on write (services/feeds.py).

    The primary key is the page order, so a feed page is a range scan of its first entries.
    No foreign key to `articles`: its cascade would need a second index as large as this table,
    and the checks of a follow's backfill would share-lock the followee's articles. The writes
    remove the entries themselves (feeds.py); the follower's go with its `feed_counts` row.
    A deleted article's entries are found by `ix_feed_entries_article_id`, whoever follows
    its author by the time the fan-out job runs (feeds.py, "Jobs").
    """

    __tablename__ = "feed_entries"
    __table_args__ = (Index("ix_feed_entries_article_id", "article_id"),)

    follower_id: Mapped[int] = mapped_column(
        ForeignKey("feed_counts.user_id", ondelete="CASCADE"), primary_key=True
    )
    # The article's created_at, copied (it never changes), as article_tags does.
    article_created_at: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    article_id: Mapped[int] = mapped_column(Integer, primary_key=True)


class FeedPulledAuthor(Base):
    """An author whose articles are not fanned out: each follower's feed reads them at read
    time (`FeedPull`), so publishing and following cost the same whatever the audience
    (services/feeds.py, "Pulled authors")."""

    __tablename__ = "feed_pulled_authors"

    author_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )


class FeedPull(Base):
    """A follow whose author's articles the follower's feed reads at read time instead of
    holding them as entries: the page merges them, `articlesCount` adds the author's count.
    A follower's feed holds either entries of an author or a pull, never both."""

    __tablename__ = "feed_pulls"

    follower_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    author_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
