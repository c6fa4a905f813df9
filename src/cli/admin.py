"""`conduit create-admin`: create an administrator, or promote an existing user."""

from __future__ import annotations

import asyncio

from src.core.config import Settings
from src.core.db import create_engine, create_sessionmaker
from src.services.admin import AccountView, create_or_promote_admin


def run_create_admin(
    settings: Settings, *, email: str, username: str, password: str | None
) -> tuple[AccountView, bool]:
    async def run() -> tuple[AccountView, bool]:
        engine = create_engine(settings)
        try:
            async with create_sessionmaker(engine)() as session:
                return await create_or_promote_admin(
                    session, settings, email=email, username=username, password=password
                )
        finally:
            await engine.dispose()

    return asyncio.run(run())
