"""Many signed-in users for the write scenarios: a session each, opened in-process.

A login per user through the API would hash a password each (argon2, slow by design); these
sessions are opened by the same service a login uses (src/services/sessions.py), so every
request of the run still goes through the real token check.
"""

from __future__ import annotations

import asyncio

WRITERS = 200  # users rotating through the many-user write scenarios (seed users 1..200)


def open_sessions(database_url: str, secret: str, count: int = WRITERS) -> list[str]:
    """Access tokens of the seed's first `count` users, one new session each."""
    from sqlalchemy import select

    from src.core.config import Settings
    from src.core.db import create_engine, create_sessionmaker
    from src.models import User
    from src.services import sessions

    async def run() -> list[str]:
        settings = Settings(database_url=database_url, secret_key=secret, log_level="WARNING")
        engine = create_engine(settings)
        try:
            async with create_sessionmaker(engine)() as session:
                users = (
                    await session.execute(
                        select(User.id, User.password_hash).order_by(User.id).limit(count)
                    )
                ).all()
                await session.rollback()
                tokens = []
                for user_id, password_hash in users:
                    issued = await sessions.start(session, settings, user_id, password_hash)
                    tokens.append(issued.access_token)
                return tokens
        finally:
            await engine.dispose()

    return asyncio.run(run())
