"""Many users at once, without paying for password hashing per user.

Races need hundreds of distinct users; registering each through the API hashes a password
(argon2, by design slow). These rows are what registration writes, and the tokens come from
the same session service login uses, so every request after this goes through the real auth path.
"""

from __future__ import annotations

import uuid

from fastapi import FastAPI

from src.core.config import Settings
from src.models import User
from src.services import sessions
from tests.factories import RegisteredUser

UNUSABLE_HASH = "!seeded-user-without-password"  # no password verifies against it


async def seed_users(app: FastAPI, settings: Settings, count: int) -> list[RegisteredUser]:
    tag = uuid.uuid4().hex[:6]
    users = [
        User(
            username=f"seed{tag}{i}", email=f"seed{tag}{i}@example.com", password_hash=UNUSABLE_HASH
        )
        for i in range(count)
    ]
    async with app.state.sessionmaker() as session:
        session.add_all(users)
        await session.commit()
        result = []
        for user in users:  # a login session each, opened the way login opens one
            issued = await sessions.start(session, settings, user.id, UNUSABLE_HASH)
            result.append(
                RegisteredUser(
                    user.username, user.email, "", issued.access_token, issued.refresh_token
                )
            )
    return result
