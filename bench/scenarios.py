"""What bench/run and bench/scale drive, and the truth their answers are checked against.

Each read's answer is checked against counts taken straight from the database (a fast wrong
answer does not count); the filters read data that fills a 20-article page at every scale.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg

from bench.cursor_pages import CursorFixtures, DeepPage, comments_check, load_cursor_fixtures
from src.api.routes.articles import MAX_OFFSET

LOGIN_EMAIL = "user1@example.com"
PASSWORD = "password"  # noqa: S105 - the seed's documented password (src/cli/bench_data.py)
# The reads with a share-of-the-floor target (bench/RESULTS.md, "Targets: where this stands"):
# paired with the floor, and measured again once the write scenarios have run.
TARGET_READS = ("list anonymous", "list authenticated", "feed", "single article")

# The compressed scenarios' Accept-Encoding (names use `+`: --only splits on commas).
GZIP_BR = {"Accept-Encoding": "gzip, br"}
ANY_TAG = {"If-None-Match": "*"}  # matches whatever tag the page has: always a 304
Check = Callable[[int, Any], str | None]
UNIQUE = "<unique>"  # where a body's value must differ from every earlier request's
Each = Callable[[dict[str, Any]], bool]  # whether an article of a page matches its filters


@dataclass
class Scenario:
    name: str
    method: str
    path: str
    auth: bool = False
    body: str | None = None
    lua_request: str | None = None  # a custom wrk request() body (writes vary their target)
    expect_status: int = 200
    check: Check | None = None
    write: bool = False
    # Signed in as many users in turn (bench/writers.py): `lua_request` calls `signed(i)`, the
    # headers of the i-th user's token.
    users: bool = False
    # Sent by wrk only (the answer check before the run sends none): If-None-Match for 304s.
    headers: dict[str, str] | None = None

    def fresh_body(self) -> str | None:
        """The body with its UNIQUE mark (a create's title) made new: a create whose slug is
        taken pays a second statement, which no run's creates do."""
        return self.body.replace(UNIQUE, uuid.uuid4().hex) if self.body else None


@dataclass
class Fixtures:
    total: int
    tag: str
    tag_count: int
    author: str
    author_count: int
    fan: str
    fan_count: int
    feed_count: int
    followed: set[str]
    slug: str
    slug_comments: int
    slugs: list[str]
    top_tag: str
    top_tag_count: int
    profile: str
    # Combined filters, each with the platform's most used tag (the widest filter there is):
    # the author's articles with it, the fan's favorites with it, and the author's articles
    # favorited by the user who favorited the most of them with the tag, with and without it.
    author_top_tag_count: int
    fan_top_tag_count: int
    admirer: str
    admirer_count: int
    admirer_top_tag_count: int
    # Profiles the write scenarios' users follow and unfollow (users 201-400, none of them a
    # writer: nobody follows themself).
    followees: list[str]
    # Deep cursor pages of the lists, the feed and a long comment thread (bench/cursor_pages.py).
    cursors: CursorFixtures
    # The seed's celebrities (`conduit seed --star-followers/--prolific-articles`): user 1
    # (the signed-in user: its creates are the star's) and user 2.
    star: str = "user1"
    prolific: str = "user2"


JOBS_DRAIN_SECONDS = 300.0


async def jobs_drained(dsn: str) -> None:
    """Wait until the jobs enqueued so far have run (at most JOBS_DRAIN_SECONDS)."""
    conn = await asyncpg.connect(dsn)
    try:
        await _jobs_drained(conn)
    finally:
        await conn.close()


async def _jobs_drained(conn: asyncpg.Connection) -> None:
    """Wait for the fan-out jobs the writes enqueued (the feeds are exact once they ran): the
    server's in-process worker shares its pinned core with the load, so it lags behind it."""
    deadline = time.monotonic() + JOBS_DRAIN_SECONDS
    while await conn.fetchval("SELECT count(*) FROM jobs WHERE state <> 'dead'"):
        if time.monotonic() > deadline:
            print("WARNING: fan-out jobs still queued; the feed's count may be behind")
            return
        await asyncio.sleep(0.5)


# The seed's tags only: the writes' own tags ("bench", "dragons", "bench<n>"...) grow with every
# run and would otherwise become the most used ones the next run reads.
_SEEDED_TAGS_BY_USE = (
    "SELECT t.name FROM tags t JOIN article_tags x ON x.tag_id = t.id "
    "WHERE t.name NOT LIKE 'bench%' AND t.name NOT LIKE 'dragons%' "
    "GROUP BY t.id ORDER BY count(*) DESC, t.name LIMIT 1 OFFSET $1"
)


async def load_fixtures(dsn: str, secret: str) -> Fixtures:
    """The scenarios' data and truth; `secret`: the server's key, which signs the deep pages'
    cursors."""
    conn = await asyncpg.connect(dsn)
    try:
        await _jobs_drained(conn)
        q = conn.fetchval
        total = await q("SELECT count(*) FROM articles")
        tag = await q(_SEEDED_TAGS_BY_USE, 10)
        top_tag = await q(_SEEDED_TAGS_BY_USE, 0)
        tag_count = await q(
            "SELECT count(*) FROM article_tags x JOIN tags t ON t.id = x.tag_id WHERE t.name = $1",
            tag,
        )
        # The most prolific author, so that the page is a full 20 at every scale: a typical
        # author's p99s would compare a part-filled page at the small scale with a full one.
        author_id = await q(
            "SELECT author_id FROM articles GROUP BY author_id ORDER BY count(*) DESC, author_id "
            "LIMIT 1"
        )
        author = await q("SELECT username FROM users WHERE id = $1", author_id)
        author_count = await q("SELECT count(*) FROM articles WHERE author_id = $1", author_id)
        # The user with the most favorites among the top tag's articles, so that a favorited
        # page, alone and with that tag, has a deep page at every scale and seed.
        fan_id = await q(
            "SELECT f.user_id FROM favorites f JOIN article_tags x ON x.article_id = f.article_id "
            "JOIN tags t ON t.id = x.tag_id WHERE t.name = $1 "
            "GROUP BY f.user_id ORDER BY count(*) DESC, f.user_id LIMIT 1",
            top_tag,
        )
        fan = await q("SELECT username FROM users WHERE id = $1", fan_id)
        fan_count = await q("SELECT count(*) FROM favorites WHERE user_id = $1", fan_id)
        feed_count = await q(
            "SELECT count(*) FROM articles WHERE author_id IN "
            "(SELECT followee_id FROM follows WHERE follower_id = 1)"
        )
        followed = {
            r[0]
            for r in await conn.fetch(
                "SELECT u.username FROM follows f JOIN users u ON u.id = f.followee_id "
                "WHERE f.follower_id = 1"
            )
        }
        row = await conn.fetchrow(
            "SELECT a.slug, count(c.id) AS n FROM articles a "
            "JOIN comments c ON c.article_id = a.id "
            "WHERE a.id = (SELECT max(article_id) FROM comments) GROUP BY a.slug"
        )
        slugs = [
            r[0] for r in await conn.fetch("SELECT slug FROM articles ORDER BY id DESC LIMIT 200")
        ]
        top_tag_count = await q(
            "SELECT count(*) FROM article_tags x JOIN tags t ON t.id = x.tag_id WHERE t.name = $1",
            top_tag,
        )
        author_top_tag_count = await q(
            "SELECT count(*) FROM articles a JOIN article_tags x ON x.article_id = a.id "
            "JOIN tags t ON t.id = x.tag_id WHERE t.name = $1 AND a.author_id = $2",
            top_tag,
            author_id,
        )
        fan_top_tag_count = await q(
            "SELECT count(*) FROM favorites f JOIN article_tags x ON x.article_id = f.article_id "
            "JOIN tags t ON t.id = x.tag_id WHERE t.name = $1 AND f.user_id = 3",
            top_tag,
        )
        admirer_id = await q(
            "SELECT f.user_id FROM favorites f JOIN articles a ON a.id = f.article_id "
            "JOIN article_tags x ON x.article_id = a.id JOIN tags t ON t.id = x.tag_id "
            "WHERE a.author_id = $1 AND t.name = $2 "
            "GROUP BY f.user_id ORDER BY count(*) DESC, f.user_id LIMIT 1",
            author_id,
            top_tag,
        )
        admirer_count = await q(
            "SELECT count(*) FROM favorites f JOIN articles a ON a.id = f.article_id "
            "WHERE f.user_id = $1 AND a.author_id = $2",
            admirer_id,
            author_id,
        )
        admirer_top_tag_count = await q(
            "SELECT count(*) FROM favorites f JOIN articles a ON a.id = f.article_id "
            "JOIN article_tags x ON x.article_id = a.id JOIN tags t ON t.id = x.tag_id "
            "WHERE t.name = $1 AND f.user_id = $2 AND a.author_id = $3",
            top_tag,
            admirer_id,
            author_id,
        )
        return Fixtures(
            total=total,
            tag=tag,
            tag_count=tag_count,
            author=author,
            author_count=author_count,
            fan=fan,
            fan_count=fan_count,
            feed_count=feed_count,
            followed=followed,
            slug=row["slug"],
            slug_comments=row["n"],
            slugs=slugs,
            top_tag=top_tag,
            top_tag_count=top_tag_count,
            profile=author,
            author_top_tag_count=author_top_tag_count,
            fan_top_tag_count=fan_top_tag_count,
            admirer=await q("SELECT username FROM users WHERE id = $1", admirer_id),
            admirer_count=admirer_count,
            admirer_top_tag_count=admirer_top_tag_count,
            followees=[
                r[0]
                for r in await conn.fetch(
                    "SELECT username FROM users ORDER BY id OFFSET 200 LIMIT 200"
                )
            ],
            cursors=await load_cursor_fixtures(
                conn,
                secret,
                total=total,
                tag=tag,
                top_tag=top_tag,
                author=author,
                fan=fan,
                counts={
                    "tag": tag_count,
                    "author": author_count,
                    "favorited": fan_count,
                    "author_tag": author_top_tag_count,
                    "favorited_tag": fan_top_tag_count,
                    "feed": feed_count,
                },
            ),
            star=await q("SELECT username FROM users WHERE id = 1"),
            prolific=await q("SELECT username FROM users WHERE id = 2"),
        )
    finally:
        await conn.close()


def _page_check(
    expected_count: int,
    each: Each | None = None,
    offset: int = 0,
    first: str | None = None,
) -> Check:
    """A page of `expected_count` matches after `offset` of them (a cursor page: starting with
    the article `first`, and with `nextCursor` while more follow)."""

    def check(status: int, body: Any) -> str | None:
        if status != 200:
            return f"status {status}"
        if body["articlesCount"] != expected_count:
            return f"articlesCount {body['articlesCount']} != {expected_count} (count(*))"
        articles = body["articles"]
        if len(articles) != min(20, max(0, expected_count - offset)):
            return f"{len(articles)} articles on the page"
        stamps = [a["createdAt"] for a in articles]
        if stamps != sorted(stamps, reverse=True):
            return "not newest first"
        if each and not all(each(a) for a in articles):
            return "an article does not match the filter"
        if first is not None:
            if articles[0]["slug"] != first:
                return f"the page starts at {articles[0]['slug']}, not {first}"
            if ("nextCursor" in body) != (expected_count - offset > len(articles)):
                return "nextCursor present on the last page, or missing before it"
        return None

    return check


def scenarios(f: Fixtures) -> list[Scenario]:
    slugs_lua = "{" + ",".join(f'"{s}"' for s in f.slugs) + "}"
    create_body = (
        '\'{"article":{"title":"Bench article \' .. counter .. \' \' .. math.random(1e9) .. '
        '\'","description":"bench","body":"benchmark body",'
        '"tagList":["bench","dragons"]}}\''
    )

    return _beside(_first_pages(f, create_body, slugs_lua), _cursor_pages(f))


def _beside(chosen: list[Scenario], extra: list[tuple[str, Scenario]]) -> list[Scenario]:
    """`chosen` with each extra scenario right after the one it names: the two run back to
    back, so that a comparison of their p99s sees the same moment of the machine."""
    placed = list(chosen)
    for after, scenario in extra:
        at = next(i for i, s in enumerate(placed) if s.name == after)
        placed.insert(at + 1, scenario)
    return placed


def _cursor_pages(f: Fixtures) -> list[tuple[str, Scenario]]:
    """(the first page it pairs with, scenario): each list's page halfway down it by cursor,
    the combined filters signed in and anonymous alike, and the long thread's pages."""
    c = f.cursors
    top, author, fan, admirer = f.top_tag, f.author, f.fan, f.admirer

    def authored_and_tagged(article: dict[str, Any]) -> bool:
        return bool(article["author"]["username"] == author and top in article["tagList"])

    def deep(
        name: str,
        path: str,
        count: int,
        d: DeepPage | None,
        each: Each | None = None,
        auth: bool = False,
    ) -> Scenario | None:
        if d is None:  # the list has no page after its middle: no scenario
            return None
        join = "&" if "?" in path else "?"
        page = _page_check(count, each, offset=d.before, first=d.first)
        return Scenario(name, "GET", f"{path}{join}cursor={d.cursor}", auth=auth, check=page)

    thread = f"/api/articles/{c.thread_slug}/comments?limit=20"
    size = c.thread_comments
    paired: list[tuple[str, Scenario | None]] = [
        ("list anonymous", deep("list deep cursor", "/api/articles", f.total, c.list_all)),
        (
            "list by tag",
            deep(
                "list by tag deep cursor",
                f"/api/articles?tag={f.tag}",
                f.tag_count,
                c.tag,
                lambda a: f.tag in a["tagList"],
            ),
        ),
        (
            "list by author",
            deep(
                "list by author deep cursor",
                f"/api/articles?author={author}",
                f.author_count,
                c.author,
                lambda a: a["author"]["username"] == author,
            ),
        ),
        (
            "list by favorited",
            deep(
                "list by favorited deep cursor",
                f"/api/articles?favorited={fan}",
                f.fan_count,
                c.favorited,
            ),
        ),
        (
            "list by author+tag",
            Scenario(
                "list by author+tag signed in",
                "GET",
                f"/api/articles?tag={top}&author={author}",
                auth=True,
                check=_page_check(f.author_top_tag_count, authored_and_tagged),
            ),
        ),
        (
            "list by author+tag signed in",
            deep(
                "list by author+tag deep cursor",
                f"/api/articles?tag={top}&author={author}",
                f.author_top_tag_count,
                c.author_tag,
                authored_and_tagged,
            ),
        ),
        (
            "list by favorited+tag",
            Scenario(
                "list by favorited+tag signed in",
                "GET",
                f"/api/articles?tag={top}&favorited={fan}",
                auth=True,
                check=_page_check(f.fan_top_tag_count, lambda a: top in a["tagList"]),
            ),
        ),
        (
            "list by favorited+tag signed in",
            deep(
                "list by favorited+tag deep cursor",
                f"/api/articles?tag={top}&favorited={fan}",
                f.fan_top_tag_count,
                c.favorited_tag,
                lambda a: top in a["tagList"],
            ),
        ),
        (
            "list by author+favorited",
            Scenario(
                "list by author+favorited anonymous",
                "GET",
                f"/api/articles?author={author}&favorited={admirer}",
                check=_page_check(f.admirer_count, lambda a: a["author"]["username"] == author),
            ),
        ),
        (
            "list by all three",
            Scenario(
                "list by all three anonymous",
                "GET",
                f"/api/articles?tag={top}&author={author}&favorited={admirer}",
                check=_page_check(f.admirer_top_tag_count, authored_and_tagged),
            ),
        ),
        (
            "feed",
            deep(
                "feed deep cursor",
                "/api/articles/feed",
                f.feed_count,
                c.feed,
                lambda a: a["author"]["following"] and a["author"]["username"] in f.followed,
                auth=True,
            ),
        ),
        (
            "comments",
            Scenario("comments page", "GET", thread, check=comments_check(None, size)),
        ),
        (
            "comments page",
            Scenario(
                "comments deep cursor",
                "GET",
                f"{thread}&cursor={c.thread.cursor}",
                check=comments_check(c.thread.first, size, c.thread.before),
            ),
        ),
    ]
    return [(after, scenario) for after, scenario in paired if scenario is not None]


def _first_pages(f: Fixtures, create_body: str, slugs_lua: str) -> list[Scenario]:
    """Every scenario but the deep cursor pages and their companions (_cursor_pages)."""

    def authored_and_tagged(article: dict[str, Any]) -> bool:
        return bool(article["author"]["username"] == f.author and f.top_tag in article["tagList"])

    return [
        Scenario("list anonymous", "GET", "/api/articles", check=_page_check(f.total)),
        Scenario(
            "list authenticated",
            "GET",
            "/api/articles",
            auth=True,
            check=_page_check(f.total, lambda a: isinstance(a["author"]["following"], bool)),
        ),
        Scenario(
            "list by tag",
            "GET",
            f"/api/articles?tag={f.tag}",
            check=_page_check(f.tag_count, lambda a: f.tag in a["tagList"]),
        ),
        Scenario(
            "list by author",
            "GET",
            f"/api/articles?author={f.author}",
            check=_page_check(f.author_count, lambda a: a["author"]["username"] == f.author),
        ),
        Scenario(
            "list by favorited",
            "GET",
            f"/api/articles?favorited={f.fan}",
            check=_page_check(f.fan_count),
        ),
        Scenario(
            "list by author+tag",
            "GET",
            f"/api/articles?tag={f.top_tag}&author={f.author}",
            check=_page_check(f.author_top_tag_count, authored_and_tagged),
        ),
        Scenario(
            "list by favorited+tag",
            "GET",
            f"/api/articles?tag={f.top_tag}&favorited={f.fan}",
            check=_page_check(f.fan_top_tag_count, lambda a: f.top_tag in a["tagList"]),
        ),
        Scenario(
            "list by author+favorited",
            "GET",
            f"/api/articles?author={f.author}&favorited={f.admirer}",
            auth=True,
            check=_page_check(f.admirer_count, lambda a: a["author"]["username"] == f.author),
        ),
        Scenario(
            "list by all three",
            "GET",
            f"/api/articles?tag={f.top_tag}&author={f.author}&favorited={f.admirer}",
            auth=True,
            check=_page_check(f.admirer_top_tag_count, authored_and_tagged),
        ),
        Scenario(
            "list deepest page",
            "GET",
            f"/api/articles?offset={MAX_OFFSET}",
            check=_page_check(f.total, offset=MAX_OFFSET),
        ),
        Scenario(
            "list by tag deepest",
            "GET",
            f"/api/articles?tag={f.top_tag}&offset={MAX_OFFSET}",
            check=_page_check(
                f.top_tag_count, lambda a: f.top_tag in a["tagList"], offset=MAX_OFFSET
            ),
        ),
        Scenario(
            "feed",
            "GET",
            "/api/articles/feed",
            auth=True,
            check=_page_check(
                f.feed_count,
                lambda a: a["author"]["following"] and a["author"]["username"] in f.followed,
            ),
        ),
        Scenario(
            "single article",
            "GET",
            f"/api/articles/{f.slug}",
            check=lambda s, b: (
                None
                if s == 200 and b["article"]["slug"] == f.slug and b["article"]["body"]
                else f"status {s}"
            ),
        ),
        # Conditional GETs (src/api/asgi/conditional.py): `*` matches whatever tag the page has,
        # so each request pays the same as one naming the current tag and is answered 304.
        Scenario("list 304", "GET", "/api/articles", headers={"If-None-Match": "*"}),
        Scenario(
            "single article 304", "GET", f"/api/articles/{f.slug}", headers={"If-None-Match": "*"}
        ),
        # As a phone asks (Accept-Encoding): its 200 is compressed (br) and its 304 is not, so
        # the fair 200-vs-304 comparison is this pair. Bytes per coding: bench/wire_bytes.py.
        Scenario("list gzip+br", "GET", "/api/articles", headers=GZIP_BR),
        Scenario("list 304 gzip+br", "GET", "/api/articles", headers={**GZIP_BR, **ANY_TAG}),
        Scenario("single article gzip+br", "GET", f"/api/articles/{f.slug}", headers=GZIP_BR),
        Scenario(
            "single article 304 gzip+br",
            "GET",
            f"/api/articles/{f.slug}",
            headers={**GZIP_BR, **ANY_TAG},
        ),
        Scenario(
            "comments",
            "GET",
            f"/api/articles/{f.slug}/comments",
            check=lambda s, b: (
                None
                if s == 200 and len(b["comments"]) == f.slug_comments
                else f"status {s} / {len(b.get('comments', []))} != {f.slug_comments} comments"
            ),
        ),
        Scenario(
            "tags",
            "GET",
            "/api/tags",
            check=lambda s, b: (
                None
                if s == 200 and b["tags"] and b["tags"][0] == f.top_tag
                else f"status {s}: first tag is not {f.top_tag}"
            ),
        ),
        Scenario(
            "profile",
            "GET",
            f"/api/profiles/{f.profile}",
            check=lambda s, b: (
                None if s == 200 and b["profile"]["username"] == f.profile else f"status {s}"
            ),
        ),
        _create("create article", f" return wrk.format(nil, nil, nil, {create_body})"),
        Scenario(
            "favorite/unfavorite",
            "POST",
            f"/api/articles/{f.slugs[0]}/favorite",
            auth=True,
            lua_request=(
                f" local slugs = {slugs_lua}\n"
                " local slug = slugs[(math.floor(counter / 2) % #slugs) + 1]\n"
                ' local method = (counter % 2 == 1) and "POST" or "DELETE"\n'
                ' return wrk.format(method, "/api/articles/" .. slug .. "/favorite")'
            ),
            write=True,
        ),
        *_many_user_writes(f, slugs_lua, create_body),
        Scenario(
            "login",
            "POST",
            "/api/users/login",
            body=json.dumps({"user": {"email": LOGIN_EMAIL, "password": PASSWORD}}),
            write=True,
        ),
    ]


def _create(name: str, lua_request: str, users: bool = False) -> Scenario:
    """Creates, each request's body from `lua_request` (checked first with a fixed one)."""
    return Scenario(
        name,
        "POST",
        "/api/articles",
        auth=True,
        body=json.dumps(
            {"article": {"title": f"Bench check {UNIQUE}", "description": "d", "body": "b"}},
            separators=(",", ":"),
        ),
        lua_request=lua_request,
        expect_status=201,
        write=True,
        users=users,
    )


def _create_by_many(name: str, body: str, prelude: str = "") -> Scenario:
    """Creates by the run's users in turn (`body`: the Lua expression of a request's body)."""
    request = f'{prelude} return wrk.format("POST", "/api/articles", signed(counter), {body})'
    return _create(name, request, users=True)


def _many_user_writes(f: Fixtures, slugs_lua: str, create_body: str) -> list[Scenario]:
    """The writes by many users at once (bench/writers.py), each request the next user's:
    creates by rotating authors (the seed's ~20 followers each with `--follows 20`),
    favorites spread over many articles and all on one, comments, follows."""
    followees_lua = "{" + ",".join(f'"{n}"' for n in f.followees) + "}"
    # Request n is user n's; requests 2k and 2k+1 favorite and unfavorite (or follow and
    # unfollow) one thing, so every write changes a row.
    pair = (
        " local pair = math.floor(counter / 2)\n"
        ' local method = (counter % 2 == 1) and "POST" or "DELETE"\n'
    )
    comment = '{"comment":{"body":"bench comment"}}'
    # The same two tags on every article make each tag's count row a hot row of its own; with
    # tags of their own (one pair per author), the authors share no row at all.
    own_tags = create_body.replace(
        '"tagList":["bench","dragons"]',
        '"tagList":["bench\' .. author .. \'","dragons\' .. author .. \'"]',
    )
    return [
        _create_by_many("create article by many authors", create_body),
        _create_by_many(
            "create article by many authors with own tags",
            own_tags,
            " local author = counter % #tokens\n",
        ),
        Scenario(
            "favorite/unfavorite by many users",
            "POST",
            f"/api/articles/{f.slugs[0]}/favorite",
            auth=True,
            lua_request=(
                f" local slugs = {slugs_lua}\n{pair}"
                " local slug = slugs[((pair * 7) % #slugs) + 1]\n"
                ' return wrk.format(method, "/api/articles/" .. slug .. "/favorite", signed(pair))'
            ),
            write=True,
            users=True,
        ),
        Scenario(
            "favorite one viral article",
            "POST",
            f"/api/articles/{f.slugs[0]}/favorite",
            auth=True,
            lua_request=(
                f"{pair}"
                f' return wrk.format(method, "/api/articles/{f.slugs[0]}/favorite", signed(pair))'
            ),
            write=True,
            users=True,
        ),
        Scenario(
            "comment create",
            "POST",
            f"/api/articles/{f.slugs[0]}/comments",
            auth=True,
            body=comment,
            lua_request=(
                f" local slugs = {slugs_lua}\n"
                " local slug = slugs[((counter * 7) % #slugs) + 1]\n"
                ' return wrk.format("POST", "/api/articles/" .. slug .. "/comments", '
                f"signed(counter), [==[{comment}]==])"
            ),
            expect_status=201,
            write=True,
            users=True,
        ),
        Scenario(
            "follow/unfollow",
            "POST",
            f"/api/profiles/{f.followees[0]}/follow",
            auth=True,
            lua_request=(
                f" local names = {followees_lua}\n{pair}"
                " local name = names[((pair * 7) % #names) + 1]\n"
                ' return wrk.format(method, "/api/profiles/" .. name .. "/follow", signed(pair))'
            ),
            write=True,
            users=True,
        ),
        _follow_one("follow/unfollow the star", f.star),
        _follow_one("follow/unfollow the prolific author", f.prolific),
        _mixed(slugs_lua, followees_lua),
    ]


def _follow_one(name: str, username: str) -> Scenario:
    """Many users following and unfollowing one author (users 3-200: neither celebrity), the
    audience's or the articles' size never in the request."""
    pair = " local pair = math.floor(counter / 2)\n"
    return Scenario(
        name,
        "DELETE",  # the answer checked first is user1's: unfollowing is allowed even of itself
        f"/api/profiles/{username}/follow",
        auth=True,
        lua_request=(
            f"{pair}"
            ' local method = (counter % 2 == 1) and "POST" or "DELETE"\n'
            f' return wrk.format(method, "/api/profiles/{username}/follow", '
            "signed((pair % 198) + 2))"
        ),
        write=True,
        users=True,
    )


def _mixed(slugs_lua: str, followees_lua: str) -> Scenario:
    """90% reads (the list, the reader's feed, an article) and 10% writes (favorite then
    unfavorite, follow then unfollow, by one user each), each request the next user's."""
    return Scenario(
        "mixed 90/10",
        "GET",
        "/api/articles",
        auth=True,
        lua_request=(
            f" local slugs = {slugs_lua}\n local names = {followees_lua}\n"
            " local turn, w = counter % 40, math.floor(counter / 40)\n"
            ' local method = (counter % 2 == 1) and "POST" or "DELETE"\n'
            " local slug = slugs[((counter * 7) % #slugs) + 1]\n"
            " if turn == 1 or turn == 2 then\n"
            "  local liked = slugs[((w * 7) % #slugs) + 1]\n"
            '  return wrk.format(method, "/api/articles/" .. liked .. "/favorite", signed(w))\n'
            " elseif turn == 21 or turn == 22 then\n"
            "  local name = names[((w * 7) % #names) + 1]\n"
            '  return wrk.format(method, "/api/profiles/" .. name .. "/follow", signed(w))\n'
            " elseif turn % 3 == 0 then\n"
            '  return wrk.format("GET", "/api/articles/feed", signed(counter))\n'
            " elseif turn % 3 == 1 then\n"
            '  return wrk.format("GET", "/api/articles/" .. slug, signed(counter))\n'
            " end\n"
            ' return wrk.format("GET", "/api/articles", signed(counter))'
        ),
        write=True,
        users=True,
    )


# The floor's anonymous list (bench/floor/app.py): what every read is set against.
FLOOR = Scenario("floor: list anonymous", "GET", "/api/articles")


def choose(chosen: list[Scenario], only: str) -> list[Scenario]:
    """The scenarios named in --only (comma-separated), or all of them."""
    if not only:
        return chosen
    wanted = {n.strip() for n in only.split(",")}
    return [s for s in chosen if s.name in wanted]
