"""Fill an empty database with a realistic, deterministic data set, fast.

Rows are generated in Python from one seeded random generator (same `seed`, same data) and
written in bulk: PostgreSQL gets binary COPY through asyncpg, SQLite gets executemany. Ids are
assigned here, so no row needs a round trip; sequences and the maintained counters are set once
at the end (`counters.recount`, then `feeds.rebuild`), which also proves they are derivable
from the rows.

Shape (defaults of `SeedPlan`): every user follows ~50 others; each article has 1-5 tags drawn
from ~1,000 with a Zipf-like popularity, 0-20 favorites (10 on average) and 0-6 comments (3 on
average). Every seeded user's password is `SEED_PASSWORD`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from src.core.security import hash_password
from src.models import Base, FeedPulledAuthor, User
from src.services.counters import recount
from src.services.feeds import rebuild as rebuild_feeds
from src.services.sql import encode_tag_names
from src.services.users import normalize_email

SEED_PASSWORD = "password"  # noqa: S105 - documented, for benchmarks and demos only
START = datetime(2024, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=730)
CHUNK_ARTICLES = 20_000
PROLIFIC_READERS = 1_000  # users 1..N follow the prolific author, when there is one
STAR, PROLIFIC = 1, 2  # the celebrities' user ids
_WORDS = (
    "async",
    "python",
    "database",
    "index",
    "query",
    "latency",
    "throughput",
    "cache",
    "queue",
    "worker",
    "stream",
    "postgres",
    "sqlite",
    "vector",
    "graph",
    "token",
    "session",
    "schema",
    "migration",
    "deploy",
    "cluster",
    "shard",
    "replica",
    "backup",
    "restore",
    "metric",
    "trace",
    "span",
    "log",
    "alert",
    "dragon",
    "train",
    "believe",
    "wonder",
    "simple",
    "fast",
    "exact",
    "counter",
    "feed",
    "profile",
    "follow",
    "favorite",
    "comment",
    "article",
    "tag",
    "page",
)

Progress = Callable[[int], None]
Chunk = dict[str, list[tuple[Any, ...]]]

_COLUMNS: dict[str, tuple[str, ...]] = {
    "articles": (
        "id",
        "slug",
        "title",
        "description",
        "body",
        "author_id",
        "favorites_count",
        "tag_names",
        "created_at",
        "updated_at",
    ),
    "article_tags": ("article_id", "tag_id", "article_created_at"),
    "favorites": ("user_id", "article_id", "created_at", "article_created_at", "article_tag_ids"),
    "comments": ("id", "body", "article_id", "author_id", "created_at", "updated_at"),
}
_USER_COLUMNS = ("id", "username", "email", "password_hash", "bio", "image", "created_at")
_FOLLOW_COLUMNS = ("follower_id", "followee_id", "created_at")


@dataclass(frozen=True, slots=True)
class SeedPlan:
    users: int = 1_000
    articles: int = 10_000
    tags: int = 1_000
    follows_per_user: int = 50
    favorites_per_article: int = 10
    comments_per_article: int = 3
    seed: int = 1
    # Celebrities for the fan-out benches: user 1 ("the star", the user bench/run signs in
    # as) followed by the next `star_followers` users, and user 2 the author of the first
    # `prolific_articles` articles. Past the thresholds they are pulled authors, as the
    # fan-out jobs would make them (src/services/feeds.py, "Pulled authors").
    star_followers: int = 0
    prolific_articles: int = 0
    pull_followers: int = 10_000
    pull_articles: int = 1_000

    @property
    def work(self) -> int:
        """Units the progress callback is advanced by in total: one per user and article."""
        return self.users + self.articles


class DatabaseNotEmpty(Exception):
    """Seeding only fills an empty schema: it assigns ids itself."""


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choices(_WORDS, k=words))


def _tag_names(count: int) -> list[str]:
    n = len(_WORDS)
    return [_WORDS[i] if i < n else f"{_WORDS[i % n]}-{i // n}" for i in range(count)]


def _ms(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


class _Writer:
    """Bulk rows into a table: binary COPY on PostgreSQL, executemany elsewhere."""

    def __init__(self, conn: AsyncConnection, raw: Any) -> None:
        self._conn = conn
        self._raw = raw  # the asyncpg connection, or None

    async def write(self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        if self._raw is not None:
            await self._raw.copy_records_to_table(table, records=rows, columns=list(columns))
            return
        await self._conn.execute(
            Base.metadata.tables[table].insert(),
            [dict(zip(columns, row, strict=True)) for row in rows],
        )


async def seed(engine: AsyncEngine, plan: SeedPlan, progress: Progress | None = None) -> None:
    """Write the plan's data set into the (empty, migrated) database behind `engine`."""
    advance: Progress = progress or (lambda _n: None)
    password_hash = await hash_password(SEED_PASSWORD)  # one hash for all: argon2 is slow
    async with engine.begin() as conn:
        if await conn.scalar(select(func.count()).select_from(User)):
            raise DatabaseNotEmpty("the database already has users; seed an empty one")
        raw = None
        if conn.dialect.name == "postgresql":
            raw = (await conn.get_raw_connection()).driver_connection
            if await conn.scalar(text("SELECT current_setting('is_superuser') = 'on'")):
                # The rows are consistent by construction: skip the per-row foreign-key
                # triggers for this transaction (most of a bulk load's time otherwise).
                await conn.execute(text("SET LOCAL session_replication_role = replica"))
        writer = _Writer(conn, raw)
        rng = random.Random(plan.seed)  # noqa: S311 - reproducible data, not secrets
        await _seed_users(writer, rng, plan, password_hash, advance)
        await _seed_follows(writer, rng, plan)
        names = _tag_names(plan.tags)
        await writer.write("tags", ("id", "name"), [(i + 1, n) for i, n in enumerate(names)])
        for chunk in _article_chunks(rng, plan, names):
            for table, columns in _COLUMNS.items():
                await writer.write(table, columns, chunk[table])
            advance(len(chunk["articles"]))
        if raw is not None:
            for table in ("users", "tags", "articles", "comments"):
                await conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608  # nosec B608 - fixed table names
                        f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
                    )
                )
        await recount(conn)
        await _pull_celebrities(conn, plan)
        await rebuild_feeds(conn)  # ~50 entries per article: the larger part of a big load
    if engine.dialect.name == "postgresql":
        # Statistics for the planner, and the visibility map and hint bits a freshly loaded
        # table lacks (without them every read first rewrites pages, and autovacuum soon
        # competes with the load): the database starts out as a long-running one would be.
        async with engine.connect() as conn:
            autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text("VACUUM (ANALYZE)"))


async def _seed_users(
    writer: _Writer, rng: random.Random, plan: SeedPlan, password_hash: str, advance: Progress
) -> None:
    rows: list[tuple[Any, ...]] = []
    for i in range(1, plan.users + 1):
        joined = _ms(START + timedelta(seconds=i))
        bio = _sentence(rng, 8) if i % 3 else None
        image = f"https://images.example.com/{i}.jpg" if i % 2 else None
        email = normalize_email(f"user{i}@example.com")  # the form logins look up
        rows.append((i, f"user{i}", email, password_hash, bio, image, joined))
    await writer.write("users", (*_USER_COLUMNS, "updated_at"), [(*r, r[-1]) for r in rows])
    advance(plan.users)


async def _pull_celebrities(conn: AsyncConnection, plan: SeedPlan) -> None:
    pulled = []
    if plan.star_followers > plan.pull_followers:
        pulled.append(STAR)
    if plan.prolific_articles > plan.pull_articles:
        pulled.append(PROLIFIC)
    if pulled:
        await conn.execute(insert(FeedPulledAuthor), [{"author_id": a} for a in pulled])


async def _seed_follows(writer: _Writer, rng: random.Random, plan: SeedPlan) -> None:
    per_user = min(plan.follows_per_user, plan.users - 1)
    rows: list[tuple[Any, ...]] = []
    for follower in range(1, plan.users + 1):
        # A sample of the other users: ids at or above the follower's own shift up by one.
        followees = [
            f if f < follower else f + 1 for f in rng.sample(range(1, plan.users), per_user)
        ]
        if STAR < follower <= plan.star_followers + STAR and STAR not in followees:
            followees.append(STAR)
        # The first readers follow the prolific author too (the star's feed merges it).
        if plan.prolific_articles and follower <= PROLIFIC_READERS and follower != PROLIFIC:
            followees += [] if PROLIFIC in followees else [PROLIFIC]
        rows.extend((follower, f, START) for f in followees)
        if len(rows) >= 100_000:
            await writer.write("follows", _FOLLOW_COLUMNS, rows)
            rows = []
    await writer.write("follows", _FOLLOW_COLUMNS, rows)


def _empty_chunk() -> Chunk:
    return {table: [] for table in _COLUMNS}


def _article_chunks(rng: random.Random, plan: SeedPlan, tag_names: list[str]) -> Iterator[Chunk]:
    step = SPAN / max(plan.articles, 1)
    tag_weights = list(accumulate(1.0 / (rank + 1) for rank in range(plan.tags)))
    tag_ids = range(1, plan.tags + 1)
    comment_id = 0
    chunk = _empty_chunk()
    for i in range(1, plan.articles + 1):
        created = _ms(START + step * i)
        title = f"{_sentence(rng, 4).capitalize()} {i}"
        how_many = min(rng.randint(0, 2 * plan.favorites_per_article), plan.users)
        fans = rng.sample(range(1, plan.users + 1), how_many)
        author = PROLIFIC if i <= plan.prolific_articles else rng.randint(1, plan.users)
        description, body = _sentence(rng, 12), _sentence(rng, 60)
        slug = title.lower().replace(" ", "-")
        tags: set[int] = set()
        wanted = rng.randint(1, min(5, plan.tags)) if plan.tags else 0
        while len(tags) < wanted:
            tags.add(rng.choices(tag_ids, cum_weights=tag_weights)[0])
        names = encode_tag_names(tag_names[t - 1] for t in tags)
        chunk["articles"].append(
            (i, slug, title, description, body, author, len(fans), names, created, created)
        )
        tag_list = sorted(tags)
        chunk["article_tags"].extend((i, t, created) for t in tag_list)
        chunk["favorites"].extend((u, i, created, created, tag_list) for u in fans)
        for _ in range(rng.randint(0, 2 * plan.comments_per_article)):
            comment_id += 1
            said = _ms(created + timedelta(minutes=rng.randint(1, 600)))
            commenter = rng.randint(1, plan.users)
            chunk["comments"].append((comment_id, _sentence(rng, 15), i, commenter, said, said))
        if i % CHUNK_ARTICLES == 0:
            yield chunk
            chunk = _empty_chunk()
    yield chunk
