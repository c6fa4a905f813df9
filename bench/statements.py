"""SQL statements per request: each scenario once through the real app, in-process."""

from __future__ import annotations

import asyncio

from bench.scenarios import Scenario


def count_statements(
    database_url: str, secret: str, token: str, chosen: list[Scenario]
) -> dict[str, int]:
    """Each scenario once through the real app in-process, counting every SQL statement
    (SQLAlchemy's events and the hot reads' asyncpg pool: src/core/statements.py), then
    the jobs those writes enqueued."""
    from httpx import ASGITransport, AsyncClient

    from src.core.config import Settings
    from src.core.statements import recording_statements
    from src.main import create_app, release_resources
    from src.services.jobs import run_until_idle

    async def run() -> dict[str, int]:
        settings = Settings(
            database_url=database_url,
            secret_key=secret,
            rate_limit_enabled=False,
            log_level="WARNING",
        )
        app = create_app(settings)
        counts: dict[str, int] = {}
        transport = ASGITransport(app=app)
        async with AsyncClient(transport=transport, base_url="http://bench") as client:
            for s in chosen:
                headers = {"Content-Type": "application/json"}
                if s.auth:
                    headers["Authorization"] = f"Token {token}"
                await client.request(
                    s.method, s.path, headers=headers, content=s.fresh_body()
                )  # warm
                with recording_statements(app.state.engine, app.state.read_pool) as seen:
                    await client.request(s.method, s.path, headers=headers, content=s.fresh_body())
                counts[s.name] = len(seen)
        # The writes' jobs too: the next run's fixtures wait for an empty queue.
        await run_until_idle(app.state.sessionmaker, settings)
        await release_resources(app)
        return counts

    return asyncio.run(run())
