"""The article reads' SQL, built once per shape and reused with bound parameters (issue 4).

Building a SQLAlchemy statement costs more Python time than PostgreSQL spends running it:
each shape (anonymous or not, which filters; the feed's per dialect too) is built on first
use and cached, and requests pass only values (`viewer_id`, `slug`, `tag`, `author`,
`favorited`, `limit`, `offset`). Every statement returns whole rows for ArticleView: article,
author, tags (the article's own `tag_names`), the viewer's flags, and for pages the total
(`articlesCount`) too, in one round trip.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    Integer,
    String,
    bindparam,
    func,
    literal_column,
    select,
    true,
)
from sqlalchemy.orm import aliased

from src.models import Article, ArticleTag, Favorite, Follow, Tag, User
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
PER_AUTHOR = bindparam("per_author", type_=Integer, literal_execute=True)  # limit + offset
BOUND_RANK = bindparam("bound_rank", type_=Integer, literal_execute=True)  # limit + offset - 1
NEGATIVE_INFINITY: ColumnElement[Any] = literal_column("'-infinity'::timestamptz")  # PostgreSQL


def _article_columns(
    with_viewer: bool,
    checked: bool = False,
    followed: bool = False,
    article: Any = Article,
    lateral_author: bool = False,
) -> AnySelect:
    """The columns of ArticleView, from `article` (the table, or a subquery of its rows).

    `followed` (the feed): every row's author is followed by the viewer, no probe needed.
    `lateral_author` (PostgreSQL's feed): the author is a LATERAL primary-key lookup, since a
    join let PostgreSQL hash the whole `users` table for 20 rows (at 1,000 users it judged that
    cheaper; it was twice as slow).
    """
    viewer = VIEWER if with_viewer else None
    following = true() if followed else is_following(viewer, article.author_id)
    author: Any = User  # its columns, as `author.username`, and how the page reaches it
    join: tuple[Any, Any] = (User, User.id == article.author_id)
    if lateral_author:
        lookup = _by_key(select(User.username, User.bio, User.image), User.id == article.author_id)
        author, join = lookup.c, (lookup, true())
    query = select(
        article.id,
        article.slug,
        article.title,
        article.description,
        article.created_at,
        article.updated_at,
        article.favorites_count,
        author.username,
        author.bio,
        author.image,
        following.label("following"),
        has_favorited(viewer, article.id).label("favorited"),
        article.tag_names.label("tags"),
    ).join(*join)
    return query.add_columns(viewer_live()) if checked else query


def _by_key(columns: AnySelect, key: Any) -> Any:
    """A one-row LATERAL lookup: `LIMIT 1` keeps PostgreSQL from flattening it into a join it
    might hash (the row is unique by `key` anyway)."""
    return columns.where(key).limit(literal_column("1")).lateral()


# What a page shows of an article, read by the feed's per-author scans themselves.
_LISTED = (
    Article.id,
    Article.slug,
    Article.title,
    Article.description,
    Article.created_at,
    Article.updated_at,
    Article.favorites_count,
    Article.tag_names,
    Article.author_id,
)


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


def _page_ids(tag: bool, author: bool, favorited: bool) -> AnySelect:
    """The ids of one page, reached through an index that is already in page order.

    A single ?tag= or ?favorited= filter reads its join table's order index (migration 0004):
    the page costs its own 20 index entries, not every article of the tag and a sort.
    Anything else walks the articles' own (created_at, id) indexes.
    """
    query: AnySelect
    if tag and not (author or favorited):
        tag_id = select(Tag.id).where(Tag.name == TAG).scalar_subquery()
        query = _newest_first(
            select(ArticleTag.article_id).where(ArticleTag.tag_id == tag_id),
            ArticleTag.article_created_at,
            ArticleTag.article_id,
        )
    elif favorited and not (tag or author):
        query = _newest_first(
            select(Favorite.article_id).where(Favorite.user_id == _user_id(FAVORITED)),
            Favorite.article_created_at,
            Favorite.article_id,
        )
    else:
        conditions = _filter_conditions(tag, author, favorited)
        query = _newest_first(select(Article.id).where(*conditions), Article.created_at, Article.id)
    return query.limit(LIMIT).offset(OFFSET)


def _page(
    with_viewer: bool,
    checked: bool,
    page_ids: AnySelect,
    count: AnySelect,
    followed: bool = False,
) -> tuple[AnySelect, AnySelect]:
    """(page, count): the page with its total (and `viewer_live`) in each row; the count (with
    `viewer_live`) alone for a page past the end, which has no row to carry them."""
    total = count.scalar_subquery().label("total")
    query = (
        _article_columns(with_viewer, checked, followed)
        .add_columns(total)
        .where(Article.id.in_(page_ids))
    )
    return _newest_first(query, Article.created_at, Article.id), _total_alone(total, checked)


def _total_alone(total: Any, checked: bool) -> AnySelect:
    """The count statement for a page past the end (with the session check when signed in)."""
    return select(total).add_columns(viewer_live()) if checked else select(total)


@cache
def article_page(
    with_viewer: bool, tag: bool, author: bool, favorited: bool, checked: bool = False
) -> tuple[AnySelect, AnySelect]:
    """(page, count) for these filters; see _page."""
    count = _count(tag, author, favorited)
    return _page(with_viewer, checked, _page_ids(tag, author, favorited), count)


def _followed_authors(dialect: str) -> CTE:
    """The viewer's followed authors with their maintained article count and newest article:
    a primary-key lookup of `users` per followed author (on PostgreSQL forced by _by_key: as a
    join, it hashed the whole table at 1,000 users)."""
    columns = select(User.id, User.articles_count, User.last_article_at)
    if dialect == "postgresql":
        author = _by_key(columns, User.id == Follow.followee_id)
        joined = select(Follow).join(author, true())
    else:  # SQLite has no LATERAL
        author = columns.subquery("author")
        joined = select(Follow).join(author, author.c.id == Follow.followee_id)
    return (
        joined.with_only_columns(
            author.c.id.label("author_id"),
            author.c.articles_count.label("articles"),
            author.c.last_article_at.label("newest"),
        )
        .where(Follow.follower_id == VIEWER)
        .cte("followed")
    )


def _feed_rows_bounded(followed: CTE) -> Any:
    """PostgreSQL: the page's articles, reading only the articles that can be on it.

    The K = offset + limit newest articles of the feed are all at least as new as `since`, the
    K-th newest of the followed authors' newest articles: those K authors alone have K articles
    that new. So only authors whose newest article reaches `since` are read, each by a short
    backward range scan of `ix_articles_author_id_created_at_id` down to `since` (at most K
    entries): ~K index entries in all instead of K per followed author (1,000 at ~50 followed
    authors and a 20-article page). With fewer than K authors that have articles, `since` is
    -infinity and every followed author is read, K entries at most each. The scans return the
    listed columns themselves (an alias of Article over them), so the page's rows are not
    looked up again by primary key.
    """
    kth_newest = (
        select(followed.c.newest)
        .order_by(followed.c.newest.desc().nulls_last())
        .limit(literal_column("1"))
        .offset(BOUND_RANK)
        .scalar_subquery()
    )
    bound = select(func.coalesce(kth_newest, NEGATIVE_INFINITY).label("since")).cte("reach")
    newest = _newest_first(
        select(*_LISTED).where(
            Article.author_id == followed.c.author_id, Article.created_at >= bound.c.since
        ),
        Article.created_at,
        Article.id,
    ).limit(PER_AUTHOR)
    scans = newest.lateral("newest")
    page = (
        select(scans)
        .select_from(followed)
        .join(bound, true())
        .join(scans, true())
        .where(followed.c.newest >= bound.c.since)
    )
    page = _newest_first(page, scans.c.created_at, scans.c.id).limit(LIMIT).offset(OFFSET)
    return aliased(Article, page.subquery("page"))


def _feed_ids_plain() -> AnySelect:
    """SQLite (no LATERAL; small databases): a plain filter on the followed authors."""
    followed = select(Follow.followee_id).where(Follow.follower_id == VIEWER)
    own = select(Article.id).where(Article.author_id.in_(followed))
    return _newest_first(own, Article.created_at, Article.id).limit(LIMIT).offset(OFFSET)


@cache
def feed_page(dialect: str, checked: bool = False) -> tuple[AnySelect, AnySelect]:
    """(page, count) of the feed; the total sums the followed authors' maintained counts, read
    in the same lookups of `users` that bound the page (PostgreSQL)."""
    followed = _followed_authors(dialect)
    count = select(func.coalesce(func.sum(followed.c.articles), 0))
    if dialect != "postgresql":
        return _page(True, checked, _feed_ids_plain(), count, followed=True)
    total = count.scalar_subquery().label("total")
    rows = _feed_rows_bounded(followed)
    query = _article_columns(True, checked, True, rows, lateral_author=True).add_columns(total)
    return _newest_first(query, rows.created_at, rows.id), _total_alone(total, checked)
