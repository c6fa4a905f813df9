"""The article reads' SQL, built once per shape and reused with bound parameters.

Building a SQLAlchemy statement costs more Python time than the database spends running it
(docs/performance.md, "The request path"): each shape (anonymous or not, which filters) is built
on first use and cached, and requests pass only values. Every statement returns whole rows for
ArticleView: article, author, tags (the article's own `tag_names`), the viewer's flags, and for
pages the total (`articlesCount`) too, in one round trip (docs/performance.md, "One statement
per page").

A list filter is declared once here, in FILTERS; its query parameter is declared on the route.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    bindparam,
    func,
    select,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.orm import aliased

from src.models import (
    Article,
    ArticleTag,
    Favorite,
    FeedCount,
    FeedEntry,
    FeedPull,
    Tag,
    User,
)
from src.models.base import UTCDateTime
from src.models.id_lists import has_id
from src.services import counters

# A token's viewer: its session, checked live in the read's own statement (`viewer_live`), so
# a signed-in read is one round trip like an anonymous one (auth.Viewer).
from src.services.auth import VIEWER, viewer_live
from src.services.cursors import Keyset
from src.services.sql import AnySelect, has_favorited, is_following, key_probe

SLUG = bindparam("slug", type_=String)
# Page bounds are written into the statement's text (`literal_execute`; integers validated by
# the API), so PostgreSQL plans each page size once per connection instead of guessing a
# generic plan for an unknown limit (docs/performance.md, "The request path").
LIMIT = bindparam("limit", type_=Integer, literal_execute=True)
OFFSET = bindparam("offset", type_=Integer, literal_execute=True)
# A cursor's position (src/services/cursors.py): the page starts after this (created_at, id).
AFTER_AT = bindparam("after_at", type_=UTCDateTime())
AFTER_ID = bindparam("after_id", type_=Integer)


def past_cursor(created_at: Any, row_id: Any) -> Any:
    """The rows after a cursor in newest-first order: a row-value comparison, which both
    databases read as one range of an index ending in (created_at, id), however deep the page
    (docs/performance.md, "Cursor pages"). Every keyset read (lists, feed, comments) uses it."""
    return tuple_(created_at, row_id) < tuple_(AFTER_AT, AFTER_ID)


def cursor_params(after: Keyset | None) -> dict[str, Any]:
    """The bind values of `past_cursor` (none for a first page)."""
    return {} if after is None else {"after_at": after.created_at, "after_id": after.id}


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
def single_article(with_viewer: bool, checked: bool = False, slug: Any = SLUG) -> AnySelect:
    """One article by `slug` (a bound parameter), with its body."""
    columns = _article_columns(with_viewer, checked).add_columns(Article.body)
    return columns.where(Article.slug == slug)


def _user_id(username: Any) -> Any:
    return select(User.id).where(func.lower(User.username) == username).scalar_subquery()


def _newest_entries(article_id: Any, created_at: Any) -> AnySelect:
    """A page's entries: (article_id, created_at), newest first, from an index in that order."""
    query = select(article_id.label("article_id"), created_at.label("created_at"))
    return _newest_first(query, created_at, article_id)


# ---------------------------------------------------------------- list filters


def _as_given(value: str) -> str:
    return value


def _lower(value: str) -> str:
    return value.lower()


def _tag_id(tag: Any) -> Any:
    return select(Tag.id).where(Tag.name == tag).scalar_subquery()


@dataclass(frozen=True, slots=True)
class IndexRange:
    """One range of an index in page order: the rows `where` selects, each naming an article
    (`article_id`) and its `created_at` (or the copy the index keeps of it, migration 0004)."""

    article_id: Any
    created_at: Any
    where: Any
    tag_ids: Any = None  # the entry's copy of its article's tag ids, where the index has one

    def entries(self, *conditions: Any) -> AnySelect:
        """The range's (article_id, created_at) that pass `conditions`, newest first."""
        return _newest_entries(self.article_id, self.created_at).where(self.where, *conditions)


def _tag_range(tag: Any) -> IndexRange:
    return IndexRange(
        ArticleTag.article_id, ArticleTag.article_created_at, ArticleTag.tag_id == _tag_id(tag)
    )


def _author_range(username: Any) -> IndexRange:
    return IndexRange(Article.id, Article.created_at, Article.author_id == _user_id(username))


def _favorites_range(username: Any) -> IndexRange:
    return IndexRange(
        Favorite.article_id,
        Favorite.article_created_at,
        Favorite.user_id == _user_id(username),
        Favorite.article_tag_ids,
    )


def _tagged(tag: Any, article_id: Any) -> Any:
    return key_probe(ArticleTag.article_id == article_id, ArticleTag.tag_id == _tag_id(tag))


def _tagged_on_entry(tag: Any, walked: IndexRange) -> Any:
    """The tag looked up in the walked entry's own copy of its article's tags, when it has
    one (a favorite's): no probe at all."""
    if walked.tag_ids is None:
        return None
    return has_id(walked.tag_ids, _tag_id(tag))


def _by_author(username: Any, article_id: Any) -> Any:
    written = aliased(Article)
    return key_probe(written.id == article_id, written.author_id == _user_id(username))


def _favorited_by(username: Any, article_id: Any) -> Any:
    return key_probe(Favorite.user_id == _user_id(username), Favorite.article_id == article_id)


@dataclass(frozen=True, slots=True)
class Filter:
    """One way to narrow the article list, declared once. Each function takes the filter's
    bind parameter (named after it, the route's query parameter) and gives:

    - `keeps` (with an article id column): whether that article matches, one primary-key
      probe per article, never a read of all the filter's matches;
    - `kept_on_entry` (with the walked range): the same answer read from the walked entry's
      own columns, or None where it has none (then `keeps` probes);
    - `counted`: the maintained count of the matches when it is the only filter (counters.py),
      None for `count(*)`;
    - `ordered`: the matches as a range of an index in page order, None for a filter without
      one (its matches are then found among all the articles, in their own index order);
    - `bound`: the bind value from the parameter's text.

    FILTERS are declared narrowest first: a page walks the range of the first filter of its
    shape that has one, and probes each entry for the others (docs/performance.md, "Combined
    filters").
    """

    name: str
    keeps: Callable[[Any, Any], Any]
    kept_on_entry: Callable[[Any, IndexRange], Any] | None = None
    counted: Callable[[Any], AnySelect] | None = None
    ordered: Callable[[Any], IndexRange] | None = None
    bound: Callable[[str], str] = _as_given

    def bind(self) -> Any:
        return bindparam(self.name, type_=String)


FILTERS: tuple[Filter, ...] = (
    # One author's articles: a small share of the platform.
    Filter(
        "author",
        keeps=_by_author,
        counted=lambda name: select(User.articles_count).where(func.lower(User.username) == name),
        ordered=_author_range,
        bound=_lower,
    ),
    # One user's favorites: as few.
    Filter(
        "favorited",
        keeps=_favorited_by,
        counted=lambda name: select(User.favorites_count).where(func.lower(User.username) == name),
        ordered=_favorites_range,
        bound=_lower,
    ),
    # One tag's articles: may be a large share of all of them.
    Filter(
        "tag",
        keeps=_tagged,
        kept_on_entry=_tagged_on_entry,
        counted=lambda tag: select(Tag.articles_count).where(Tag.name == tag),
        ordered=_tag_range,
    ),
)
FILTER_NAMES = frozenset(declared.name for declared in FILTERS)
_BY_NAME = {declared.name: declared for declared in FILTERS}


@dataclass(frozen=True, slots=True)
class ArticleFilter:
    """The filters one list request sets: `shape` names them (in FILTERS order; the statements
    are built once per shape), `values` are their bind values, in the same order."""

    shape: tuple[str, ...] = ()
    values: tuple[str, ...] = ()

    @classmethod
    def of(cls, given: Mapping[str, str | None]) -> ArticleFilter:
        """From the request's values by filter name; a missing or None value sets no filter."""
        shape: list[str] = []
        values: list[str] = []
        for declared in FILTERS:
            value = given.get(declared.name)
            if value is not None:
                shape.append(declared.name)
                values.append(declared.bound(value))
        return cls(tuple(shape), tuple(values))

    def params(self) -> dict[str, str]:
        """The bind values by parameter name."""
        return dict(zip(self.shape, self.values, strict=True))

    def statements(
        self, with_viewer: bool, checked: bool = False, after: bool = False
    ) -> tuple[AnySelect, AnySelect]:
        """(page, count) for this shape; see _page. `after`: the page starts past a cursor."""
        return article_page(with_viewer, self.shape, checked, after)


def _lone(shape: tuple[str, ...]) -> Filter | None:
    return _BY_NAME[shape[0]] if len(shape) == 1 else None


def _matches(shape: tuple[str, ...], after: bool = False) -> AnySelect:
    """The shape's matches as (article_id, created_at), newest first: the range of its
    narrowest filter with an index in page order (all the articles' without one), each entry
    probed by key for the other filters. Its cost is bounded by that range, however large the
    other filters' ranges are (docs/performance.md, "Combined filters"). `after`: only the
    part of that range past a cursor."""
    declared = [_BY_NAME[name] for name in shape]
    driver = next((each for each in declared if each.ordered is not None), None)
    if driver is None or driver.ordered is None:
        walked = IndexRange(Article.id, Article.created_at, true())
    else:
        walked = driver.ordered(driver.bind())
    probes = [_kept(each, walked) for each in declared if each is not driver]
    if after:
        probes.append(past_cursor(walked.created_at, walked.article_id))
    return walked.entries(*probes)


def _kept(declared: Filter, walked: IndexRange) -> Any:
    """The condition that a walked entry matches `declared`: on the entry itself if it can
    say, else one probe by key."""
    bound = declared.bind()
    if declared.kept_on_entry is not None:
        on_entry = declared.kept_on_entry(bound, walked)
        if on_entry is not None:
            return on_entry
    return declared.keeps(bound, walked.article_id)


def _count(shape: tuple[str, ...]) -> AnySelect:
    """articlesCount in one cheap lookup: the maintained total without a filter, the lone
    filter's maintained count; `count(*)` over the matches for anything else, bounded by the
    narrowest filter's range (docs/performance.md, "Read performance")."""
    if not shape:
        return counters.articles_total_query()
    lone = _lone(shape)
    if lone is not None and lone.counted is not None:
        return lone.counted(lone.bind())
    matches = _matches(shape).order_by(None)
    return matches.with_only_columns(func.count(), maintain_column_froms=True)


def _page_entries(shape: tuple[str, ...], after: bool) -> AnySelect:
    """The entries of one page, through an index that is already in page order (the narrowest
    filter's, else the articles' (created_at, id) index; docs/performance.md, "Pages in index
    order"), from a cursor on when `after`."""
    return _matches(shape, after).limit(LIMIT).offset(OFFSET)


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
    with_viewer: bool, shape: tuple[str, ...], checked: bool = False, after: bool = False
) -> tuple[AnySelect, AnySelect]:
    """(page, count) for the filters named in `shape`; see _page. The count is always all the
    matches', cursor or not."""
    total = _count(shape).scalar_subquery().label("total")
    return _page(with_viewer, checked, _page_entries(shape, after), total)


def _pulled_entries(dialect: str, after: bool) -> AnySelect:
    """The newest LIMIT + OFFSET articles (past the cursor when `after`) of each author the
    viewer pulls (src/services/feeds.py, "Pulled authors"): on PostgreSQL one backward range
    of that author's index each (LATERAL); SQLite has no LATERAL and sorts them."""
    newest = _newest_entries(Article.id, Article.created_at)
    if after:
        newest = newest.where(past_cursor(Article.created_at, Article.id))
    if dialect != "postgresql":
        pulled = newest.join(FeedPull, FeedPull.author_id == Article.author_id)
        return pulled.where(FeedPull.follower_id == VIEWER).limit(LIMIT + OFFSET)
    each = newest.where(Article.author_id == FeedPull.author_id).limit(LIMIT + OFFSET).lateral()
    return (
        select(each.c.article_id, each.c.created_at)
        .select_from(FeedPull)
        .join(each, true())
        .where(FeedPull.follower_id == VIEWER)
    )


@cache
def feed_page(
    checked: bool = False, after: bool = False, dialect: str = "sqlite"
) -> tuple[AnySelect, AnySelect]:
    """(page, count) of the feed, fanned out on write (src/services/feeds.py): the first
    entries of the viewer's `feed_entries` (its primary key is the page order; past a cursor
    when `after`) merged with the newest articles of the authors it pulls (none for most
    readers: one empty probe); the total its `feed_counts` row plus those authors' counts."""
    own = _newest_entries(FeedEntry.article_id, FeedEntry.article_created_at)
    own = own.where(FeedEntry.follower_id == VIEWER)
    if after:
        own = own.where(past_cursor(FeedEntry.article_created_at, FeedEntry.article_id))
    # Each side its own subquery: SQLite takes no ORDER BY or LIMIT on a UNION's members.
    sides = [own.limit(LIMIT + OFFSET).subquery(), _pulled_entries(dialect, after).subquery()]
    merged = union_all(*(select(side.c.article_id, side.c.created_at) for side in sides))
    both = merged.subquery("both")
    entries = _newest_entries(both.c.article_id, both.c.created_at).limit(LIMIT).offset(OFFSET)
    count = select(FeedCount.articles_count).where(FeedCount.user_id == VIEWER)
    pulls = (
        select(func.sum(User.articles_count))
        .join(FeedPull, FeedPull.author_id == User.id)
        .where(FeedPull.follower_id == VIEWER)
    )
    total = (
        func.coalesce(count.scalar_subquery(), 0) + func.coalesce(pulls.scalar_subquery(), 0)
    ).label("total")
    return _page(True, checked, entries, total, followed=True)
