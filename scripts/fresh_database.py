"""Create a brand-new PostgreSQL database beside the one a URL names; print its URL.

Usage: python scripts/fresh_database.py postgresql+asyncpg://user@host:port/db NAME
The database NAME is dropped first if it exists (it is a scratch database).
"""

from __future__ import annotations

import asyncio
import sys

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine


async def recreate(server_url: str, name: str) -> str:
    engine = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


if __name__ == "__main__":
    if len(sys.argv) != 3 or not sys.argv[2].isidentifier():
        sys.exit(__doc__)
    sys.stdout.write(asyncio.run(recreate(sys.argv[1], sys.argv[2])) + "\n")
