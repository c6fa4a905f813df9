"""The article reads' SQL, built once per shape and reused with bound parameters (issue 4).

Building a SQLAlchemy statement costs more Python time than PostgreSQL spends running it:
each shape (anonymous or not, which filters) is built on first
use and cached, and requests pass only values (`viewer_id`, `slug`, `tag`, `author`,
`favorited`, `limit`, `offset`). Every statement returns whole rows for ArticleView: article,
author, tags (the article's own `tag_names`), the viewer's flags, and for pages the total
(`articlesCount`) too, in one round trip.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    bindparam,
    func,
    select,
    true,
)

from src.models import Article, ArticleTag, Favorite, FeedCount, FeedEntry, Tag, User
from src.services import counters

# A token's viewer: its session, checked live in the read's own statement (`viewer_live`), so
# a signed-in read is one round trip like an anonymous one (auth.Viewer).
from src.services.auth import VIEWER, viewer_live
from src.services.sql import AnySelect, has_favorited, is_following

SLUG = bindparam("slug", type_=String)
TAG = bindparam("tag", type_=String)
AUTHOR = bindparam("author", type_=String)  # lower-cased by the caller
FAVORITED = bindparam("favorited", type_=String)  # lower-cased by the caller
# Page bounds are written into the statement's text (`literal_execute`; integers validated by
# the API): with `LIMIT $n` PostgreSQL must plan every execution anew, because its generic plan
# guesses a tenth of the table for an unknown limit (hash joins over a million articles, and
# JIT). With the number in the text, each page size and offset is a statement of its own that
# PostgreSQL plans once per connection; the bench measured a quarter more list requests/s.
LIMIT = bindparam("limit", type_=Integer, literal_execute=True)
OFFSET = bindparam("offset", type_=Integer, literal_execute=True)


def _article_columns(with_viewer: bool, checked: bool = False, followed: bool = False) -> AnySelect:
    """The columns of ArticleView. `followed` (the feed): every row's author is followed by the
    viewer, no probe needed."""
    viewer = VIEWER if with_viewer else None
    following = true() if followed else is_following(viewer, Article.author_id)
    query = select(
        Article.id,
        Article.slug,
        Article.title,
        Article.description,
        Article.created_at,
        Article.updated_at,
        Article.favorites_count,
        User.username,
        User.bio,
        User.image,
        following.label("following"),
        has_favorited(viewer, Article.id).label("favorited"),
        Article.tag_names.label("tags"),
    ).join(User, User.id == Article.author_id)
    return query.add_columns(viewer_live()) if checked else query


def _newest_first(query: AnySelect, created_at: Any, article_id: Any) -> AnySelect:
    return query.order_by(created_at.desc(), article_id.desc())


@cache
def single_article(with_viewer: bool, checked: bool = False) -> AnySelect:
    """One article by `slug`, with its body."""
    columns = _article_columns(with_viewer, checked).add_columns(Article.body)
    return columns.where(Article.slug == SLUG)


def _user_id(username: Any) -> Any:
    return select(User.id).where(func.lower(User.username) == username).scalar_subquery()


def _filter_conditions(tag: bool, author: bool, favorited: bool) -> list[Any]:
    conditions: list[Any] = []
    if tag:
        tagged = select(ArticleTag.article_id).join(Tag, Tag.id == ArticleTag.tag_id)
        conditions.append(Article.id.in_(tagged.where(Tag.name == TAG)))
    if author:
        conditions.append(Article.author_id == _user_id(AUTHOR))
    if favorited:
        fans = select(Favorite.article_id).where(Favorite.user_id == _user_id(FAVORITED))
        conditions.append(Article.id.in_(fans))
    return conditions


def _count(tag: bool, author: bool, favorited: bool) -> AnySelect:
    """articlesCount in one cheap lookup: a maintained counter for no filter or one filter
    (src/services/counters.py); count(*) only for combined filters, already narrowed by index."""
    if tag + author + favorited > 1:
        conditions = _filter_conditions(tag, author, favorited)
        return select(func.count()).select_from(Article).where(*conditions)
    if tag:
        return select(Tag.articles_count).where(Tag.name == TAG)
    if author:
        return select(User.articles_count).where(func.lower(User.username) == AUTHOR)
    if favorited:
        return select(User.favorites_count).where(func.lower(User.username) == FAVORITED)
    return counters.articles_total_query()


def _newest_entries(article_id: Any, created_at: Any) -> AnySelect:
    """A page's entries: (article_id, created_at), newest first, from an index in that order."""
    query = select(article_id.label("article_id"), created_at.label("created_at"))
    return _newest_first(query, created_at, article_id)


def _page_entries(tag: bool, author: bool, favorited: bool) -> AnySelect:
    """The entries of one page, reached through an index that is already in page order.

    A single ?tag= or ?favorited= filter reads its join table's order index (migration 0004):
    the page costs its own 20 index entries, not every article of the tag and a sort.
    Anything else walks the articles' own (created_at, id) indexes.
    """
    query: AnySelect
    if tag and not (author or favorited):
        tag_id = select(Tag.id).where(Tag.name == TAG).scalar_subquery()
        query = _newest_entries(ArticleTag.article_id, ArticleTag.article_created_at)
        query = query.where(ArticleTag.tag_id == tag_id)
    elif favorited and not (tag or author):
        query = _newest_entries(Favorite.article_id, Favorite.article_created_at)
        query = query.where(Favorite.user_id == _user_id(FAVORITED))
    else:
        conditions = _filter_conditions(tag, author, favorited)
        query = _newest_entries(Article.id, Article.created_at).where(*conditions)
    return query.limit(LIMIT).offset(OFFSET)


def _page(
    with_viewer: bool,
    checked: bool,
    entries: AnySelect,
    total: Any,
    followed: bool = False,
) -> tuple[AnySelect, AnySelect]:
    """(page, count): the page with its total (and `viewer_live`) in each row; the count (with
    `viewer_live`) alone for a page past the end, which has no row to carry them.

    The page's entries are joined, not matched with `IN`: PostgreSQL then keeps their index
    order through primary-key lookups of the articles and authors, with no hash of the ids and
    no sort of the rows (bench/EXPLAIN-1M.md)."""
    rows = entries.subquery("entries")
    query = (
        _article_columns(with_viewer, checked, followed)
        .join(rows, rows.c.article_id == Article.id)
        .add_columns(total)
    )
    return _newest_first(query, rows.c.created_at, rows.c.article_id), _total_alone(total, checked)


def _total_alone(total: Any, checked: bool) -> AnySelect:
    """The count statement for a page past the end (with the session check when signed in)."""
    return select(total).add_columns(viewer_live()) if checked else select(total)


@cache
def article_page(
    with_viewer: bool, tag: bool, author: bool, favorited: bool, checked: bool = False
) -> tuple[AnySelect, AnySelect]:
    """(page, count) for these filters; see _page."""
    total = _count(tag, author, favorited).scalar_subquery().label("total")
    return _page(with_viewer, checked, _page_entries(tag, author, favorited), total)


@cache
def feed_page(checked: bool = False) -> tuple[AnySelect, AnySelect]:
    """(page, count) of the feed, fanned out on write (src/services/feeds.py): the page is the
    first entries of the viewer's `feed_entries` (its primary key is the page order), the total
    its `feed_counts` row."""
    own = _newest_entries(FeedEntry.article_id, FeedEntry.article_created_at)
    entries = own.where(FeedEntry.follower_id == VIEWER).limit(LIMIT).offset(OFFSET)
    count = select(FeedCount.articles_count).where(FeedCount.user_id == VIEWER)
    total = func.coalesce(count.scalar_subquery(), 0).label("total")
    return _page(True, checked, entries, total, followed=True)
