"""Deep cursor pages and a long comment thread: what bench/run and bench/scale set beside each
first page, to show a page costs the same however deep it starts (docs/performance.md, "Cursor
pages").

A deep page's cursor is built the way the server builds one, from the row halfway down its list
(found in the database) and signed with the server's secret key under the list's scope, so no
walk of thousands of pages is needed; its answer is checked against the rows that follow that
row. The long thread is the oldest article (it stays the same whatever the write scenarios add)
with `LONG_THREAD` comments, inserted once if the seed did not make them, so any seeded database
can be measured again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from src.api import paging
from src.services.article_queries import ArticleFilter
from src.services.auth import Viewer
from src.services.cursors import Keyset, codec_for

LONG_THREAD = 100_000
DEPTH = 0.5  # how far down its list a deep page starts
PAGE = 20
FEED_READER = 1  # the signed-in user of the bench: user1

Check = Callable[[int, Any], str | None]

# Each list's rows as (id, created_at, name), newest first, from the one at offset $1 on (name:
# an article's slug, or a comment's id); the list's own values from $2 on.
_ROWS = {
    "all": "SELECT id, created_at, slug AS name FROM articles a",
    "tag": "SELECT id, created_at, slug AS name FROM articles a WHERE EXISTS (SELECT FROM "
    "article_tags x JOIN tags t ON t.id = x.tag_id WHERE x.article_id = a.id AND t.name = $2)",
    "author": "SELECT id, created_at, slug AS name FROM articles a "
    "WHERE a.author_id = (SELECT id FROM users WHERE lower(username) = lower($2))",
    "favorited": "SELECT id, created_at, slug AS name FROM articles a "
    "WHERE EXISTS (SELECT FROM favorites f JOIN users u ON u.id = f.user_id "
    "WHERE f.article_id = a.id AND lower(u.username) = lower($2))",
    "feed": "SELECT id, created_at, slug AS name FROM articles a WHERE a.author_id IN "
    "(SELECT followee_id FROM follows WHERE follower_id = $2::int)",
    "thread": "SELECT id, created_at, id AS name FROM comments "
    "WHERE article_id = (SELECT id FROM articles WHERE slug = $2)",
}
# A combination: the rows of a filter on $2 that also have the tag $3.
_WITH_TAG = (
    " AND EXISTS (SELECT FROM article_tags x JOIN tags t ON t.id = x.tag_id "
    "WHERE x.article_id = a.id AND t.name = $3)"
)
_NEWEST = " ORDER BY created_at DESC, id DESC OFFSET $1 LIMIT 2"


@dataclass(frozen=True)
class DeepPage:
    """A cursor halfway down a list and what the page after it must be."""

    cursor: str
    before: int  # the list's entries up to and including the cursor's row
    first: str  # the page's first entry: an article's slug, or a comment's id


@dataclass(frozen=True)
class CursorFixtures:
    list_all: DeepPage | None
    tag: DeepPage | None
    author: DeepPage | None
    favorited: DeepPage | None
    author_tag: DeepPage | None
    favorited_tag: DeepPage | None
    feed: DeepPage | None
    thread_slug: str
    thread_comments: int
    thread: DeepPage


async def load_cursor_fixtures(
    conn: asyncpg.Connection,
    secret: str,
    *,
    total: int,
    tag: str,
    top_tag: str,
    author: str,
    fan: str,
    counts: dict[str, int],
) -> CursorFixtures:
    """The deep pages of the list (alone, by each filter, by the combinations with
    `top_tag`), the feed and the long thread. `counts`: each list's size by its key (tag,
    author, favorited, author_tag, favorited_tag, feed), as the scenarios' checks know them."""
    codec = codec_for(secret)

    async def deep(sql: str, size: int, bound_to: bytes, *args: object) -> DeepPage | None:
        """None for a list too short for a page after its cursor (a seed without favorites)."""
        before = max(int(size * DEPTH), 1)
        rows = await conn.fetch(sql + _NEWEST, before - 1, *args)
        if len(rows) < 2:
            return None
        at = Keyset(rows[0]["created_at"], rows[0]["id"])
        return DeepPage(codec.sign(bound_to, at), before, str(rows[1]["name"]))

    def scope(**given: str) -> bytes:
        return paging.articles_scope(ArticleFilter.of(given))

    slug, size = await ensure_long_thread(conn)
    thread = await deep(_ROWS["thread"], size, paging.comments_scope(slug), slug)
    if thread is None:  # not reached: the thread was just made long
        raise SystemExit(f"no deep page in the thread of {slug}")
    return CursorFixtures(
        list_all=await deep(_ROWS["all"], total, scope()),
        tag=await deep(_ROWS["tag"], counts["tag"], scope(tag=tag), tag),
        author=await deep(_ROWS["author"], counts["author"], scope(author=author), author),
        favorited=await deep(_ROWS["favorited"], counts["favorited"], scope(favorited=fan), fan),
        author_tag=await deep(
            _ROWS["author"] + _WITH_TAG,
            counts["author_tag"],
            scope(tag=top_tag, author=author),
            author,
            top_tag,
        ),
        favorited_tag=await deep(
            _ROWS["favorited"] + _WITH_TAG,
            counts["favorited_tag"],
            scope(tag=top_tag, favorited=fan),
            fan,
            top_tag,
        ),
        feed=await deep(
            _ROWS["feed"], counts["feed"], paging.feed_scope(Viewer(FEED_READER)), FEED_READER
        ),
        thread_slug=slug,
        thread_comments=size,
        thread=thread,
    )


async def ensure_long_thread(conn: asyncpg.Connection) -> tuple[str, int]:
    """(slug, comments) of the oldest article, given `LONG_THREAD` comments if it has fewer:
    one `INSERT ... SELECT`, spread over a hundred commenters, a second apart."""
    article = await conn.fetchrow("SELECT id, slug FROM articles ORDER BY id LIMIT 1")
    if article is None:
        raise SystemExit("no articles: is the database seeded?")
    count_sql = "SELECT count(*) FROM comments WHERE article_id = $1"
    has = await conn.fetchval(count_sql, article["id"])
    if has < LONG_THREAD:
        commenters = [r[0] for r in await conn.fetch("SELECT id FROM users ORDER BY id LIMIT 100")]
        await conn.execute(
            "INSERT INTO comments (body, article_id, author_id, created_at, updated_at) "
            "SELECT 'Comment ' || g || ' of a long thread', a.id, "
            "($3::int[])[1 + g % cardinality($3::int[])], "
            "a.created_at + g * interval '1 second', a.created_at + g * interval '1 second' "
            "FROM articles a, generate_series($2::int + 1, $4::int) g WHERE a.id = $1",
            article["id"],
            has,
            commenters,
            LONG_THREAD,
        )
        # Statistics and the visibility map, as the seed leaves the rest of the data.
        await conn.execute("VACUUM (ANALYZE) comments")
        has = await conn.fetchval(count_sql, article["id"])
    return article["slug"], has


def comments_check(expected_first: str | None, size: int, before: int = 0) -> Check:
    """A page of the long thread: `limit` comments newest first (starting with
    `expected_first` when given), and `nextCursor` while more follow."""

    def check(status: int, body: Any) -> str | None:
        if status != 200:
            return f"status {status}"
        comments = body["comments"]
        if len(comments) != min(PAGE, size - before):
            return f"{len(comments)} comments on the page"
        if expected_first is not None and str(comments[0]["id"]) != expected_first:
            return f"first comment {comments[0]['id']} != {expected_first}"
        stamps = [_instant(c["createdAt"]) for c in comments]
        if stamps != sorted(stamps, reverse=True):
            return "not newest first"
        if ("nextCursor" in body) != (size - before > PAGE):
            return "nextCursor present on the last page, or missing before it"
        return None

    return check


def _instant(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
