"""A bare ASGI app serving `GET /api/articles` (anonymous) with byte-for-byte our JSON.

No framework, no ORM, no validation: one hand-written asyncpg statement (page, author, tags and
the maintained total in one round trip; the tags from the article's `tag_names`, as Conduit
reads them; the author a LATERAL key lookup, which a plain join let PostgreSQL turn into a
hash of the whole `users` table at 1,000 users, four times slower) and orjson. `bench/run`
measures it beside Conduit in the same run, so Conduit's req/s is reported as a fraction of
what this machine can do at all.

A page followed by another carries its `nextCursor` as Conduit's does (the same codec and
SECRET_KEY), so the bytes stay the same.

Run: DATABASE_URL=postgresql://... SECRET_KEY=... \
    uvicorn bench.floor.app:app --loop uvloop --http httptools
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import asyncpg
import orjson

from src.services.cursors import Keyset, codec_for, scope

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

TS = """to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')"""
PAGE = f"""
SELECT p.id, p.created_at, p.slug, p.title, p.description, p.tag_names,
       {TS.format("p.created_at")} AS created, {TS.format("p.updated_at")} AS updated,
       p.favorites_count, u.username, u.bio, u.image,
       (SELECT sum(value)::bigint FROM counters WHERE name = 'articles') AS total
FROM (SELECT id, slug, title, description, tag_names, created_at, updated_at, favorites_count,
             author_id
      FROM articles ORDER BY created_at DESC, id DESC LIMIT $1 OFFSET $2) p
JOIN LATERAL (SELECT username, bio, image FROM users WHERE users.id = p.author_id LIMIT 1) u ON true
ORDER BY p.created_at DESC, p.id DESC
"""  # noqa: S608 - constant text, no input
TOTAL = "SELECT coalesce((SELECT sum(value)::bigint FROM counters WHERE name = 'articles'), 0)"
HEADERS = [(b"content-type", b"application/json")]
NOT_FOUND = orjson.dumps({"errors": {"body": ["not found"]}})
UNFILTERED = scope("articles", [], [])  # what Conduit binds an unfiltered list's cursor to


def _dsn() -> str:
    url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/conduit")
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


class Floor:
    def __init__(self) -> None:
        self.pool: asyncpg.Pool | None = None
        self.cursors = codec_for(os.environ.get("SECRET_KEY", ""))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["path"] != "/api/articles" or scope["method"] != "GET":
            await self._send(send, 404, NOT_FOUND)
            return
        query = parse_qs(scope["query_string"].decode())
        limit = int(query.get("limit", ["20"])[0])
        offset = int(query.get("offset", ["0"])[0])
        assert self.pool is not None
        rows = await self.pool.fetch(PAGE, limit + 1, offset)  # one more: is there a next page?
        total = rows[0]["total"] if rows else await self.pool.fetchval(TOTAL)
        more = len(rows) > limit
        rows = rows[:limit]
        page: dict[str, Any] = {
            "articles": [
                {
                    "slug": r["slug"],
                    "title": r["title"],
                    "description": r["description"],
                    "tagList": orjson.loads(r["tag_names"]),
                    "createdAt": r["created"],
                    "updatedAt": r["updated"],
                    "favorited": False,
                    "favoritesCount": r["favorites_count"],
                    "author": {
                        "username": r["username"],
                        "bio": r["bio"],
                        "image": r["image"],
                        "following": False,
                    },
                }
                for r in rows
            ],
            "articlesCount": total,
        }
        if more:
            last = rows[-1]
            page["nextCursor"] = self.cursors.sign(
                UNFILTERED, Keyset(last["created_at"], last["id"])
            )
        await self._send(send, 200, orjson.dumps(page))

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                size = int(os.environ.get("FLOOR_POOL_SIZE", "10"))
                self.pool = await asyncpg.create_pool(_dsn(), min_size=size, max_size=size)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.pool is not None:
                    await self.pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    @staticmethod
    async def _send(send: Send, status: int, body: bytes) -> None:
        headers = [*HEADERS, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


app = Floor()
