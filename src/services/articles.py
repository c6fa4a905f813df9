"""Articles: page reads, the single article, and author-only writes."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, cast

from sqlalchemy import (
    Integer,
    String,
    bindparam,
    delete,
    exists,
    func,
    insert,
    inspect,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from src.core.reads import Reads, SessionReads
from src.models import Article, ArticleTag, Favorite, Tag, User
from src.models.base import utc_now
from src.services import article_queries, auth, counters, feeds, messages
from src.services.article_queries import ArticleFilter
from src.services.auth import NOW, SESSION_ID, VIEWER, Viewer, refuse_dead_session, viewer_params
from src.services.cursors import Keyset
from src.services.errors import Conflict, Forbidden, NotFound, Unauthorized
from src.services.jobs.queue import mark_enqueued
from src.services.preconditions import Precondition
from src.services.read_models import ArticlePage, ArticleView
from src.services.roles import is_admin
from src.services.slugs import RESERVED_SLUGS, slug_base, with_suffix
from src.services.sql import (
    AnySelect,
    article_tag_ids,
    commit,
    conflict_insert,
    encode_tag_names,
    run_alone,
    table_of,
)
from src.services.webhooks import events, record_event

SLUG_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class NewArticle:
    title: str
    description: str
    body: str
    tag_list: list[str]


@dataclass(frozen=True, slots=True)
class ArticleChanges:
    title: str | None = None
    description: str | None = None
    body: str | None = None
    tag_list: list[str] | None = None


# ---------------------------------------------------------------- reads


async def _page(
    reads: Reads,
    queries: tuple[AnySelect, AnySelect],
    params: dict[str, Any],
    viewer: Viewer | None,
    limit: int,
) -> ArticlePage:
    """One statement for a page, its total and the viewer's session check; only a page past
    the end (no row to carry them) costs a second one. It reads one article more than the
    page: whether there is a next page, without a statement to ask."""
    page, count = queries
    rows = await reads.all(page, {**params, "limit": limit + 1})
    head = rows[0] if rows else await reads.first(count, params)
    if head is None:  # not reached: the count statement always returns its one row
        raise NotFound(messages.NOT_FOUND, field="article")
    refuse_dead_session(viewer, head)
    last = rows[limit - 1] if len(rows) > limit else None
    # The rows are the read models (ArticleView): each article reaches the renderer as it was read.
    articles = cast(list[ArticleView], rows[:limit])
    return ArticlePage(
        articles=articles,
        articles_count=int(head["total"] or 0),
        next=None if last is None else Keyset(last["created_at"], last["id"]),
    )


async def list_articles(
    reads: Reads,
    filters: ArticleFilter,
    viewer: Viewer | None,
    limit: int,
    offset: int,
    after: Keyset | None = None,
) -> ArticlePage:
    """Newest first; every filter narrows; an unknown tag or user simply matches nothing.
    `after`: the page starts past that cursor position (then `offset` is 0)."""
    checked = auth.checks_session(viewer)
    queries = filters.statements(viewer is not None, checked, after is not None)
    params = {
        **viewer_params(viewer),
        **filters.params(),
        **article_queries.cursor_params(after),
        "offset": offset,
    }
    return await _page(reads, queries, params, viewer, limit)


async def feed(
    reads: Reads, viewer: Viewer, limit: int, offset: int, after: Keyset | None = None
) -> ArticlePage:
    """Articles by the authors the viewer follows, newest first (past `after`, if given)."""
    params = {**viewer_params(viewer), **article_queries.cursor_params(after), "offset": offset}
    checked = auth.checks_session(viewer)
    queries = article_queries.feed_page(checked, after is not None, reads.dialect)
    return await _page(reads, queries, params, viewer, limit)


async def get_article(reads: Reads, slug: str, viewer: Viewer | None) -> ArticleView:
    checked = auth.checks_session(viewer)
    query = article_queries.single_article(viewer is not None, checked)
    row = await reads.first(query, {**viewer_params(viewer), "slug": slug})
    if row is None:
        await auth.ensure_live(reads, viewer)  # a dead session: 401, not 404
        raise NotFound(messages.NOT_FOUND, field="article")
    refuse_dead_session(viewer, row)
    return cast(ArticleView, row)


async def find_article(
    session: AsyncSession, slug: str, *, lock: bool = False, for_delete: bool = False
) -> Article:
    """`lock=True` for writers of the article's rows or counts: they take the article row
    first, so they serialize per article and lock counters in one order (counters.py).
    `for_delete` takes FOR UPDATE, which also holds off new favorites' foreign-key checks."""
    query = select(Article).where(Article.slug == slug)
    if lock or for_delete:
        query = query.with_for_update(key_share=not for_delete)
    article = await session.scalar(query)
    if article is None:
        raise NotFound(messages.NOT_FOUND, field="article")
    return article


_TAGS_IN_USE = (
    select(Tag.name).where(Tag.articles_count > 0).order_by(Tag.articles_count.desc(), Tag.name)
)


# PostgreSQL: the same names as one array in one row, which asyncpg decodes in C instead of a
# row object per tag (docs/performance.md, "The request path").
_TAGS_IN_USE_ARRAY = select(
    func.array_agg(aggregate_order_by(Tag.name, Tag.articles_count.desc(), Tag.name)).label("names")
).where(Tag.articles_count > 0)
# For a caller known by a token: the same statements also say whether its session is live.
_TAGS_IN_USE_FOR_VIEWER = _TAGS_IN_USE.add_columns(auth.viewer_live())
_TAGS_IN_USE_ARRAY_FOR_VIEWER = _TAGS_IN_USE_ARRAY.add_columns(auth.viewer_live())


async def list_tags(reads: Reads, viewer: Viewer | None = None) -> list[str]:
    """Tags in use by at least one article, most used first (maintained counts, no scan).
    A viewer whose session is dead is Unauthorized, as on every read."""
    checked = auth.checks_session(viewer)
    params = viewer_params(viewer) if checked else {}
    if reads.dialect == "postgresql":
        if not checked:
            names: list[str] | None = await reads.scalar(_TAGS_IN_USE_ARRAY, {})
            return list(names or ())
        head = await reads.first(_TAGS_IN_USE_ARRAY_FOR_VIEWER, params)
        if head is None:  # not reached: an aggregate always returns its one row
            return []
        refuse_dead_session(viewer, head)
        return list(head["names"] or ())
    rows = await reads.all(_TAGS_IN_USE_FOR_VIEWER if checked else _TAGS_IN_USE, params)
    if not rows:
        await auth.ensure_live(reads, viewer)  # no row to carry the session's answer
        return []
    refuse_dead_session(viewer, rows[0])
    return [row["name"] for row in rows]


# ---------------------------------------------------------------- writes


async def _slug_is_free(session: AsyncSession, slug: str) -> bool:
    if slug in RESERVED_SLUGS:  # a fixed route segment: the route would shadow the article
        return False
    return (await session.scalar(select(Article.id).where(Article.slug == slug))) is None


async def _save_with_unique_slug(session: AsyncSession, article: Article, title: str) -> None:
    """Give the article a slug from its title, free even when two titles collide at once.

    Each attempt runs in a SAVEPOINT so a lost race on the unique index costs one retry,
    not the whole transaction.
    """
    base = slug_base(title)
    candidate = base if await _slug_is_free(session, base) else with_suffix(base)
    for _ in range(SLUG_ATTEMPTS):
        try:
            # The slug is set inside the savepoint: begin_nested() flushes pending changes
            # first, and a colliding slug flushed there would fail the whole transaction.
            async with session.begin_nested():
                article.slug = candidate
                session.add(article)
                await session.flush()
        except IntegrityError:
            if await _slug_is_free(session, candidate):
                raise  # a different constraint failed; not ours to hide
            if inspect(article).persistent:  # rolled back to the savepoint: reload the row
                await session.refresh(article)
            candidate = with_suffix(base)
            continue
        return
    raise Conflict(messages.SLUG_EXHAUSTED, field="slug")


async def _replace_tags(session: AsyncSession, article: Article, names: list[str]) -> None:
    """Set the article's tags; each tag's count moves by exactly the rows written or removed.

    Only the difference is written, and the counts move (taking the tags' row locks) before
    the new rows reference those tags (counters.py: "locked before they are referenced").
    """
    article.tag_names = encode_tag_names(names)  # its rows' copy, written with them
    current = select(ArticleTag.tag_id).where(ArticleTag.article_id == article.id)
    old_ids = set(await session.scalars(current))
    ids_by_name = await _tag_ids(session, names)
    new_ids = set(ids_by_name.values())
    removed, added = old_ids - new_ids, new_ids - old_ids
    if removed:
        await session.execute(
            delete(ArticleTag).where(
                ArticleTag.article_id == article.id, ArticleTag.tag_id.in_(sorted(removed))
            )
        )
    await counters.move_tags(session, removed=removed, added=added)
    session.add_all(
        ArticleTag(article_id=article.id, tag_id=tag_id, article_created_at=article.created_at)
        for tag_id in sorted(added)
    )
    await session.flush()
    if removed or added:  # the favorites' copy, under the article's lock like every favorite
        await session.execute(_RETAG_FAVORITES, {"retagged": article.id})


async def _tag_ids(session: AsyncSession, names: list[str]) -> dict[str, int]:
    """The tags' ids by name, creating the missing ones."""
    if not names:
        return {}
    rows = await session.execute(select(Tag.name, Tag.id).where(Tag.name.in_(names)))
    existing: dict[str, int] = {str(row[0]): int(row[1]) for row in rows}
    # Sorted: two requests creating the same new tags wait for each other in one order, never
    # in a cycle (a deadlock between ["a", "b"] and ["b", "a"]).
    for name in sorted(names):
        if name not in existing:
            # Another request may create the same tag at the same moment: retry in a savepoint.
            existing[name] = await _create_tag(session, name)
    return existing


async def _create_tag(session: AsyncSession, name: str) -> int:
    try:
        async with session.begin_nested():
            tag = Tag(name=name)
            session.add(tag)
            await session.flush()
            return tag.id
    except IntegrityError:
        tag_id = await session.scalar(select(Tag.id).where(Tag.name == name))
        if tag_id is None:
            raise
        return tag_id


# A new article's statements, built once on the tables (no ORM unit of work).
_ARTICLES, _ARTICLE_TAGS = table_of(Article), table_of(ArticleTag)
_FAVORITES = table_of(Favorite)
_RETAGGED = bindparam("retagged", type_=Integer)
_RETAG_FAVORITES = (
    update(_FAVORITES)
    .where(_FAVORITES.c.article_id == _RETAGGED)
    .values(article_tag_ids=article_tag_ids(_RETAGGED))
)
_USERS, _TAGS = table_of(User), table_of(Tag)
_NEW_ARTICLE_COLUMNS = (
    "slug",
    "title",
    "description",
    "body",
    "author_id",
    "tag_names",
    "created_at",
    "updated_at",
)
_INSERT_ARTICLE_TAGS = insert(_ARTICLE_TAGS)


@cache
def _insert_article(dialect: str) -> Any:
    """The article under a candidate slug; no row back when another article holds the slug
    (a retry without a savepoint: the conflict is not an error)."""
    values = {name: bindparam(name, type_=_ARTICLES.c[name].type) for name in _NEW_ARTICLE_COLUMNS}
    return (
        conflict_insert(dialect)(_ARTICLES)
        .values({**values, "favorites_count": 0})
        .on_conflict_do_nothing(index_elements=[_ARTICLES.c.slug])
        .returning(_ARTICLES.c.id)
    )


async def _insert_with_free_slug(session: AsyncSession, values: dict[str, Any]) -> str:
    """Insert the article under a slug from its title, free even when two titles collide at
    once; returns the slug. The id goes into `values`."""
    conn = await session.connection()
    statement = _insert_article(conn.dialect.name)
    base = slug_base(values["title"])
    candidate = base if base not in RESERVED_SLUGS else with_suffix(base)
    for _ in range(SLUG_ATTEMPTS):
        article_id = (await conn.execute(statement, {**values, "slug": candidate})).scalar()
        if article_id is not None:
            values["id"] = article_id
            return candidate
        candidate = with_suffix(base)
    raise Conflict(messages.SLUG_EXHAUSTED, field="slug")


@cache
def _counted_author(checked: bool) -> Any:
    """SQLite: the author's count moved, for a live caller only: the caller's check, the
    author's row and the profile the response shows, in one statement. `checked`: the caller's
    token session must be live (auth.session_is_live); a trusted viewer (already verified, no
    session) skips it."""
    condition = [_USERS.c.id == VIEWER, _USERS.c.is_active.is_(True)]
    if checked:
        condition.append(auth.session_is_live(VIEWER, SESSION_ID, NOW))
    return (
        update(_USERS)
        .where(*condition)
        .values(articles_count=_USERS.c.articles_count + 1)
        .returning(_USERS.c.id, _USERS.c.username, _USERS.c.bio, _USERS.c.image)
    )


def _may_write(checked: bool) -> Any:
    """SQL: the caller may write: a live session (auth.session_is_live, its account active), or
    for a trusted viewer (already verified, no session) an active account."""
    if checked:
        return auth.session_is_live(VIEWER, SESSION_ID, NOW)
    return exists().where(_USERS.c.id == VIEWER, _USERS.c.is_active.is_(True))


def _published_to(author_id: int) -> events.Audience:
    """Whom an article.published event concerns: its author and their followers."""
    return events.Audience((author_id,), author_id)


@cache
def _create_in_one_statement(checked: bool, audience: tuple[bool, bool, bool]) -> Any:
    """PostgreSQL: a whole create as one statement of CTEs, its own transaction
    (sql.own_transaction): the article under a candidate slug, for a caller who may write;
    then, each part reading the one before (which fixes the order they run in, the lock order
    of counters.py), the author's count, the tags' counts (name order) and links, one shard of
    the total; and the feed's publish job and the webhook event beside them. When the slug is
    taken nothing is written and the caller tries the next candidate. Foreign-key checks run at
    the end of the statement, after the rows they lock were updated."""
    # Named apart from every column: an UPDATE in the statement would SET a column that a
    # parameter of the same name is given for.
    values = {
        name: bindparam(f"new_{name}", type_=_ARTICLES.c[name].type)
        for name in _NEW_ARTICLE_COLUMNS
    }
    values["author_id"] = VIEWER
    columns = [*values, "favorites_count"]
    article = (
        postgresql.insert(_ARTICLES)
        .from_select(columns, select(*values.values(), literal(0)).where(_may_write(checked)))
        .on_conflict_do_nothing(index_elements=[_ARTICLES.c.slug])
        .returning(_ARTICLES.c.id, _ARTICLES.c.author_id)
        .cte("article")
    )
    author = (
        update(_USERS)
        .where(_USERS.c.id == select(article.c.author_id).scalar_subquery())
        .values(articles_count=_USERS.c.articles_count + 1)
        .returning(_USERS.c.id, _USERS.c.username, _USERS.c.bio, _USERS.c.image)
        .cte("author")
    )
    written = exists(select(author.c.id))
    names = func.unnest(bindparam("tags", type_=postgresql.ARRAY(String))).table_valued("name")
    tag_rows = select(names.c.name, literal(1)).where(written)
    tags = postgresql.insert(_TAGS).from_select(["name", "articles_count"], tag_rows)
    tags_cte = (
        tags.on_conflict_do_update(
            index_elements=[_TAGS.c.name], set_={"articles_count": _TAGS.c.articles_count + 1}
        )
        .returning(_TAGS.c.id)
        .cte("tag")
    )
    links = (
        insert(_ARTICLE_TAGS)
        .from_select(
            ["article_id", "tag_id", "article_created_at"],
            select(article.c.id, tags_cte.c.id, values["created_at"]).join_from(
                article,
                tags_cte,
                true(),  # one article: its every tag
            ),
        )
        .returning(_ARTICLE_TAGS.c.tag_id)
        .cte("link")
    )
    total = counters.bump_total_when("postgresql", written)
    total = total.returning(total.table.c.shard).cte("total")
    published = feeds.publish_each(article).returning(literal(1)).cte("published")
    event = events.recorded_when(audience, written).returning(literal(1)).cte("event")

    def scalar(part: Any, column: Any) -> Any:
        return select(column).select_from(part).scalar_subquery()

    def counted(part: Any) -> Any:
        return select(func.count()).select_from(part).scalar_subquery()

    return select(
        _may_write(checked).label("allowed"),
        scalar(article, article.c.id).label("article_id"),
        scalar(author, author.c.username).label("username"),
        scalar(author, author.c.bio).label("bio"),
        scalar(author, author.c.image).label("image"),
        counted(links).label("links"),
        counted(total).label("total"),
        counted(published).label("published"),
        counted(event).label("events"),
    )


async def _create_postgresql(
    session: AsyncSession, viewer: Viewer, values: dict[str, Any], tags: list[str]
) -> tuple[Any, str]:
    """The author's row and the new article's slug, after one statement per slug tried."""
    author_id = viewer.user_id
    audience = _published_to(author_id)
    statement = _create_in_one_statement(auth.checks_session(viewer), audience.shape())
    params = {
        **viewer_params(viewer),
        **{f"new_{name}": value for name, value in values.items()},
        "tags": tags,
        "start": author_id % counters.SHARDS,
        "delta": 1,
    }
    base = slug_base(values["title"])
    candidate = base if base not in RESERVED_SLUGS else with_suffix(base)
    for _ in range(SLUG_ATTEMPTS):
        event = events.event_params("article.published", audience, {"slug": candidate})
        [row] = await run_alone(session, statement, {**params, **event, "new_slug": candidate})
        if not row.allowed:
            raise Unauthorized(messages.TOKEN_INVALID, field="token")
        if row.article_id is not None:
            values["id"] = row.article_id
            mark_enqueued(session)
            return row, candidate
        candidate = with_suffix(base)
    raise Conflict(messages.SLUG_EXHAUSTED, field="slug")


async def _create_in_turn(
    session: AsyncSession, viewer: Viewer, values: dict[str, Any], tags: list[str]
) -> tuple[Any, str]:
    """SQLite (one writer at a time): the same parts, one statement each, in the same order."""
    conn = await session.connection()
    counted = _counted_author(auth.checks_session(viewer))
    author = (await conn.execute(counted, viewer_params(viewer))).first()
    if author is None:
        raise Unauthorized(messages.TOKEN_INVALID, field="token")
    slug = await _insert_with_free_slug(session, values)
    tag_ids = await counters.tags_of_new_article(session, tags)
    if tag_ids:
        links = [
            {
                "article_id": values["id"],
                "tag_id": tag_id,
                "article_created_at": values["created_at"],
            }
            for tag_id in sorted(tag_ids)
        ]
        await conn.execute(_INSERT_ARTICLE_TAGS, links)
    await counters.bump_articles_total(session, +1, viewer.user_id)
    await feeds.add_article(session, viewer.user_id, values["id"], values["created_at"])
    audience = _published_to(viewer.user_id)
    resource = {"slug": slug}
    await record_event(
        session, "article.published", audience.user_ids, resource, audience.followers_of
    )
    return author, slug


async def create_article(session: AsyncSession, viewer: Viewer, data: NewArticle) -> ArticleView:
    """The caller's session is checked by the write itself (a dead one: Unauthorized)."""
    now = utc_now()
    tags = encode_tag_names(data.tag_list)
    values: dict[str, Any] = {
        "title": data.title,
        "description": data.description,
        "body": data.body,
        "author_id": viewer.user_id,
        "tag_names": tags,
        "created_at": now,
        "updated_at": now,
    }
    names = sorted(set(data.tag_list))  # the tags' lock order (counters.py)
    dialect = session.get_bind().dialect.name
    create = _create_postgresql if dialect == "postgresql" else _create_in_turn
    author, slug = await create(session, viewer, values, names)
    await commit(session)
    # What a read would return, known without one: the author's own new article.
    return ArticleView(
        slug=slug,
        title=data.title,
        description=data.description,
        body=data.body,
        tags=tags,
        created_at=now,
        updated_at=now,
        favorited=False,
        favorites_count=0,
        username=author.username,
        bio=author.bio,
        image=author.image,
        following=False,
    )


async def update_article(
    session: AsyncSession,
    slug: str,
    editor: User,
    changes: ArticleChanges,
    precondition: Precondition[ArticleView] | None = None,
) -> ArticleView:
    article = await find_article(session, slug, lock=True)
    if article.author_id != editor.id:
        raise Forbidden(messages.FORBIDDEN, field="article")
    await _require(session, precondition, slug, editor)
    if changes.description is not None:
        article.description = changes.description
    if changes.body is not None:
        article.body = changes.body
    if changes.title is not None and changes.title != article.title:
        article.title = changes.title
        if slug_base(changes.title) != slug_base_of(article.slug):
            await _save_with_unique_slug(session, article, changes.title)
    if changes.tag_list is not None:
        await _replace_tags(session, article, changes.tag_list)
    article.updated_at = utc_now()
    await record_event(session, "article.updated", [editor.id], {"slug": article.slug}, editor.id)
    await session.commit()
    return await get_article(SessionReads(session), article.slug, Viewer(editor.id))


async def _require(
    session: AsyncSession, precondition: Precondition[ArticleView] | None, slug: str, user: User
) -> None:
    """The client's If-Match, checked on the article as this user reads it now, under the row
    lock the write took: no other write to it can come between the check and this one."""
    if precondition is not None:
        precondition.require(await get_article(SessionReads(session), slug, Viewer(user.id)))


def slug_base_of(slug: str) -> str:
    """The title part of a stored slug (without a collision suffix)."""
    head, _, tail = slug.rpartition("-")
    if head and len(tail) == 8 and all(c in "0123456789abcdef" for c in tail):
        return head
    return slug


async def delete_article(
    session: AsyncSession,
    slug: str,
    user: User,
    precondition: Precondition[ArticleView] | None = None,
) -> None:
    article = await find_article(session, slug, for_delete=True)
    if article.author_id != user.id and not is_admin(user):  # admins moderate
        raise Forbidden(messages.FORBIDDEN, field="article")
    await _require(session, precondition, slug, user)
    # The row lock keeps favorites and tags of this article still until commit, so the counts
    # below are exactly what the cascade removes. Locks: users, then tags, the total, the feeds.
    fans = await session.scalars(select(Favorite.user_id).where(Favorite.article_id == article.id))
    tag_ids = await session.scalars(
        select(ArticleTag.tag_id).where(ArticleTag.article_id == article.id)
    )
    fan_ids, tag_id_list = list(fans), list(tag_ids)
    await counters.lock_users(session, [*fan_ids, article.author_id])
    await counters.bump_user_favorites(session, fan_ids, -1)
    await counters.remove_user_article(session, article.author_id)
    await counters.move_tags(session, removed=tag_id_list, added=())
    await counters.bump_articles_total(session, -1, article.author_id)
    await feeds.remove_article(session, article.author_id, article.id, article.created_at)
    author_id = article.author_id
    await record_event(session, "article.deleted", [author_id], {"slug": slug}, author_id)
    await session.delete(article)
    await session.commit()
