"""`conduit create-admin` and `conduit delete-user`: account administration by an operator."""

from __future__ import annotations

import asyncio

from src.core.config import Settings
from src.core.db import create_engine, create_sessionmaker
from src.services.admin import AccountView, create_or_promote_admin
from src.services.user_deletion import delete_by_username


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


def run_delete_user(settings: Settings, username: str) -> None:
    async def run() -> None:
        engine = create_engine(settings)
        try:
            async with create_sessionmaker(engine)() as session:
                await delete_by_username(session, username)
        finally:
            await engine.dispose()

    asyncio.run(run())
