"""EXPLAIN ANALYZE the SQL the app really sends for the read scenarios (bench/scenarios.py).

Usage: .venv/bin/python -m bench.explain --database-url postgresql+asyncpg://.../bench1m
    [--only "list deep cursor,comments page"]
Each scenario runs once in-process; every SELECT it sent is re-run under
EXPLAIN (ANALYZE, BUFFERS) with the same parameters, and the plans are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from httpx import ASGITransport, AsyncClient
from sqlalchemy import event

from bench.scenarios import LOGIN_EMAIL, PASSWORD, choose, load_fixtures, scenarios
from bench.servers import asyncpg_dsn
from src.core.config import Settings
from src.main import create_app, release_resources


async def main(database_url: str, only: str) -> None:
    settings = Settings(database_url=database_url, rate_limit_enabled=False, log_level="WARNING")
    secret = settings.secret_key.get_secret_value()  # the deep pages' cursors are signed with it
    fixtures = await load_fixtures(asyncpg_dsn(database_url), secret)
    app = create_app(settings)
    # The reads run through SQLAlchemy's session here, where each statement is seen with its
    # parameters: the same statements, compiled for the same dialect, as on the asyncpg path.
    app.state.read_pool = None
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    event.listen(app.state.engine.sync_engine, "before_cursor_execute", record)
    body = json.dumps({"user": {"email": LOGIN_EMAIL, "password": PASSWORD}})
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://bench") as client:
        json_type = {"Content-Type": "application/json"}
        login = await client.post("/api/users/login", content=body, headers=json_type)
        assert login.status_code == 200, login.text
        token = login.json()["user"]["token"]
        for s in choose(scenarios(fixtures), only):
            if s.write:
                continue
            headers = {"Authorization": f"Token {token}"} if s.auth else {}
            seen.clear()
            await client.get(s.path, headers=headers)
            reads = ("SELECT", "WITH")
            captured = [(q, p) for q, p in seen if q.lstrip().upper().startswith(reads)]
            print(f"\n### {s.name}: GET {s.path}  ({len(seen)} statements)\n")
            async with app.state.engine.connect() as conn:
                for statement, parameters in captured:
                    result = await conn.exec_driver_sql(
                        "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + statement, parameters
                    )
                    print("```")
                    print(statement.strip())
                    print("--")
                    print("\n".join(row[0] for row in result))
                    print("```")
    await release_resources(app)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="bench.explain", description=__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    args = parser.parse_args()
    asyncio.run(main(args.database_url, args.only))
