"""Login takes about the same time whether or not the email exists (no account enumeration).

Run: .venv/bin/python bench/login_timing.py [ROUNDS]
Uses production argon2id parameters on a throwaway SQLite database, in-process (ASGI).
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

from httpx import ASGITransport, AsyncClient

from src.core import migrations
from src.core.config import Settings
from src.main import create_app, release_resources


async def main(rounds: int) -> None:
    logging.disable(logging.INFO)  # the access log would drown the result
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'timing.db'}"
        await asyncio.to_thread(migrations.upgrade, "head", url)  # Alembic runs its own loop
        app = create_app(Settings(database_url=url, rate_limit_enabled=False))
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://b") as client:
            await client.post(
                "/api/users",
                json={"user": {"username": "t", "email": "t@example.com", "password": "p" * 12}},
            )
            timings: dict[str, list[float]] = {"existing email": [], "unknown email": []}
            for _ in range(rounds):
                for label, email in (
                    ("existing email", "t@example.com"),
                    ("unknown email", "u@x.io"),
                ):
                    start = time.perf_counter()
                    response = await client.post(
                        "/api/users/login", json={"user": {"email": email, "password": "wrong-pw"}}
                    )
                    timings[label].append((time.perf_counter() - start) * 1000)
                    assert response.status_code == 401
        await release_resources(app)
    for label, values in timings.items():
        print(
            f"{label:15} median {statistics.median(values):6.1f} ms  "
            f"p90 {sorted(values)[int(len(values) * 0.9)]:6.1f} ms  (n={len(values)})"
        )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 30))
