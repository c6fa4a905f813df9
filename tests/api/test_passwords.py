"""Password hashing through the API: argon2id, legacy bcrypt hashes verified and upgraded."""

from __future__ import annotations

import bcrypt
import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from passlib.hash import argon2
from sqlalchemy import select, update

from src.models import User
from tests.factories import log_in, register

SHORT = "hunter22"
LONG = "correct horse battery staple " * 4  # 116 bytes: past bcrypt's 72-byte limit


async def _stored_hash(app: FastAPI, username: str) -> str:
    async with app.state.sessionmaker() as session:
        value = await session.scalar(select(User.password_hash).where(User.username == username))
    assert value is not None
    return value


async def _set_hash(app: FastAPI, username: str, password_hash: str) -> None:
    async with app.state.engine.begin() as conn:
        await conn.execute(
            update(User).where(User.username == username).values(password_hash=password_hash)
        )


async def test_new_passwords_are_hashed_with_argon2id(client: AsyncClient, app: FastAPI) -> None:
    jake = await register(client)

    assert (await _stored_hash(app, jake.username)).startswith("$argon2id$")


@pytest.mark.parametrize("password", [SHORT, LONG], ids=["short", "over-72-bytes"])
async def test_a_legacy_bcrypt_hash_logs_in_and_is_rehashed_to_argon2id(
    client: AsyncClient, app: FastAPI, password: str
) -> None:
    jake = await register(client)
    # What an imported account looks like: bcrypt (which only ever saw the first 72 bytes).
    legacy = bcrypt.hashpw(password.encode()[:72], bcrypt.gensalt(rounds=4)).decode()
    await _set_hash(app, jake.username, legacy)

    response = await log_in(client, jake.email, password)

    assert response.status_code == 200, response.text
    upgraded = await _stored_hash(app, jake.username)
    assert upgraded.startswith("$argon2id$")
    assert (await log_in(client, jake.email, password)).status_code == 200


async def test_a_wrong_password_against_a_bcrypt_hash_fails_and_keeps_the_hash(
    client: AsyncClient, app: FastAPI
) -> None:
    jake = await register(client)
    legacy = bcrypt.hashpw(SHORT.encode(), bcrypt.gensalt(rounds=4)).decode()
    await _set_hash(app, jake.username, legacy)

    assert (await log_in(client, jake.email, SHORT + "x")).status_code == 401
    assert await _stored_hash(app, jake.username) == legacy


async def test_after_the_upgrade_every_byte_of_a_long_password_counts(
    client: AsyncClient, app: FastAPI
) -> None:
    # bcrypt ignored bytes past 72; argon2id does not. Once rehashed, a password that only
    # shares the first 72 bytes no longer logs in.
    jake = await register(client)
    legacy = bcrypt.hashpw(LONG.encode()[:72], bcrypt.gensalt(rounds=4)).decode()
    await _set_hash(app, jake.username, legacy)
    impostor = LONG[:72] + "something else entirely"

    assert (await log_in(client, jake.email, LONG)).status_code == 200  # rehashed here

    assert (await log_in(client, jake.email, impostor)).status_code == 401
    assert (await log_in(client, jake.email, LONG)).status_code == 200


@pytest.mark.parametrize("password", [SHORT, LONG], ids=["short", "over-72-bytes"])
async def test_argon2id_verifies_short_and_long_passwords_exactly(
    client: AsyncClient, password: str
) -> None:
    jake = await register(client, password=password)

    assert (await log_in(client, jake.email, password)).status_code == 200
    assert (await log_in(client, jake.email, password[:-1])).status_code == 401
    assert (await log_in(client, jake.email, password + "x")).status_code == 401


async def test_a_corrupt_stored_hash_is_a_failed_login_not_an_error(
    client: AsyncClient, app: FastAPI
) -> None:
    jake = await register(client)
    await _set_hash(app, jake.username, "$2b$12$not-a-real-hash")

    assert (await log_in(client, jake.email, jake.password)).status_code == 401


async def test_a_hash_with_weaker_argon2_parameters_is_upgraded_on_login(
    client: AsyncClient, app: FastAPI
) -> None:
    jake = await register(client)
    weak = argon2.using(type="ID", time_cost=1, memory_cost=8, parallelism=1).hash(jake.password)
    await _set_hash(app, jake.username, weak)

    assert (await log_in(client, jake.email, jake.password)).status_code == 200
    assert await _stored_hash(app, jake.username) != weak
