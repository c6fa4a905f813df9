"""Users and authentication through HTTP: registration, login, the current user, tokens."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient, Response
from jose import jwt
from sqlalchemy import text

from src.core import security
from src.core.config import Settings
from src.core.security import create_access_token
from tests.factories import DEFAULT_PASSWORD, RegisteredUser, auth, log_in, register, unique

TAKEN = "has already been taken"
BLANK = "can't be blank"


# ------------------------------------------------------------ helpers


def new_user(**fields: Any) -> dict[str, Any]:
    username = unique("jake")
    user: dict[str, Any] = {
        "username": username,
        "email": f"{username}@example.com",
        "password": DEFAULT_PASSWORD,
    }
    user.update(fields)
    return {"user": user}


async def post_user(client: AsyncClient, body: Any) -> Response:
    return await client.post("/api/users", json=body)


async def update(client: AsyncClient, user: RegisteredUser, **fields: Any) -> Response:
    return await client.put("/api/user", json={"user": fields}, headers=user.headers)


async def current(client: AsyncClient, token: str, scheme: str = "Token") -> Response:
    return await client.get("/api/user", headers=auth(token, scheme))


def user_id(user: RegisteredUser) -> int:
    return int(jwt.get_unverified_claims(user.token)["sub"])


def claims(settings: Settings, subject: int, **overrides: Any) -> dict[str, Any]:
    now = int(datetime.now(UTC).timestamp())
    values: dict[str, Any] = {
        "sub": str(subject),
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "jti": uuid.uuid4().hex,
    }
    values.update(overrides)
    return values


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def assert_unauthorized(response: Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Token"
    assert set(response.json()) == {"errors"}
    assert list(response.json()["errors"]) == ["token"]


# ------------------------------------------------------------ registration


async def test_registration_returns_the_new_user_with_a_token(client: AsyncClient) -> None:
    response = await post_user(
        client, {"user": {"username": "Jacob", "email": "jake@jake.jake", "password": "jakejake"}}
    )

    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"user"}
    assert set(body["user"]) == {
        "email",
        "token",
        "refreshToken",
        "username",
        "bio",
        "image",
        "emailVerified",
    }
    assert body["user"]["email"] == "jake@jake.jake"
    assert body["user"]["username"] == "Jacob"
    assert body["user"]["bio"] is None
    assert body["user"]["image"] is None
    assert body["user"]["token"].count(".") == 2


async def test_registration_never_echoes_the_password(client: AsyncClient) -> None:
    response = await post_user(client, new_user(password="a-very-secret-password"))

    assert response.status_code == 201
    assert "a-very-secret-password" not in response.text
    assert "password" not in response.json()["user"]


async def test_the_registration_token_authenticates_the_new_user(client: AsyncClient) -> None:
    jake = await register(client)

    response = await current(client, jake.token)

    assert response.status_code == 200
    assert response.json()["user"]["username"] == jake.username


async def test_registration_stores_the_email_in_lower_case(client: AsyncClient) -> None:
    response = await post_user(client, new_user(email="Jake.Mixed@Example.COM"))

    assert response.status_code == 201
    assert response.json()["user"]["email"] == "jake.mixed@example.com"


async def test_registration_keeps_the_username_as_spelled(client: AsyncClient) -> None:
    response = await post_user(client, new_user(username="JakeTheDog"))

    assert response.status_code == 201
    assert response.json()["user"]["username"] == "JakeTheDog"


async def test_registration_accepts_a_username_of_the_maximum_length(client: AsyncClient) -> None:
    response = await post_user(client, new_user(username="j" * 39))

    assert response.status_code == 201, response.text


async def test_registration_ignores_unknown_fields(client: AsyncClient) -> None:
    response = await post_user(client, new_user(bio="injected", image="https://x.example/a.png"))

    assert response.status_code == 201
    assert response.json()["user"]["bio"] is None
    assert response.json()["user"]["image"] is None


# ------------------------------------------------------------ registration: validation


async def test_registration_without_any_field_names_every_field(client: AsyncClient) -> None:
    response = await post_user(client, {"user": {}})

    assert response.status_code == 422
    assert response.json() == {
        "errors": {"username": [BLANK], "email": [BLANK], "password": [BLANK]}
    }


@pytest.mark.parametrize("missing", ["username", "email", "password"])
async def test_registration_without_one_field_names_that_field(
    client: AsyncClient, missing: str
) -> None:
    body = new_user()
    del body["user"][missing]

    response = await post_user(client, body)

    assert response.status_code == 422
    assert response.json() == {"errors": {missing: [BLANK]}}


async def test_registration_with_null_fields_says_they_are_blank(client: AsyncClient) -> None:
    response = await post_user(
        client, {"user": {"username": None, "email": None, "password": None}}
    )

    assert response.status_code == 422
    assert response.json() == {
        "errors": {"username": [BLANK], "email": [BLANK], "password": [BLANK]}
    }


@pytest.mark.parametrize("blank", ["", "   "])
async def test_registration_with_a_blank_username_is_refused(
    client: AsyncClient, blank: str
) -> None:
    response = await post_user(client, new_user(username=blank))

    assert response.status_code == 422
    assert response.json() == {"errors": {"username": [BLANK]}}


@pytest.mark.parametrize(
    "email", ["jake", "jake@", "@example.com", "jake@@example.com", "jake example@x.com"]
)
async def test_registration_with_a_malformed_email_is_refused(
    client: AsyncClient, email: str
) -> None:
    response = await post_user(client, new_user(email=email))

    assert response.status_code == 422
    assert response.json() == {"errors": {"email": ["is invalid"]}}


@pytest.mark.parametrize("field", ["email", "password"])
@pytest.mark.parametrize("blank", ["", "   "])
async def test_registration_with_a_blank_email_or_password_says_it_is_blank(
    client: AsyncClient, field: str, blank: str
) -> None:
    response = await post_user(client, new_user(**{field: blank}))

    assert response.status_code == 422
    assert response.json() == {"errors": {field: [BLANK]}}


async def test_registration_with_a_short_password_is_refused(client: AsyncClient) -> None:
    response = await post_user(client, new_user(password="1234567"))

    assert response.status_code == 422
    assert response.json() == {"errors": {"password": ["is too short (minimum is 8 characters)"]}}


async def test_registration_with_an_absurdly_long_password_is_refused(client: AsyncClient) -> None:
    response = await post_user(client, new_user(password="p" * 257))

    assert response.status_code == 422
    assert response.json() == {"errors": {"password": ["is too long (maximum is 256 characters)"]}}


async def test_registration_with_a_too_long_username_is_refused(client: AsyncClient) -> None:
    response = await post_user(client, new_user(username="j" * 40))

    assert response.status_code == 422
    assert response.json() == {"errors": {"username": ["is too long (maximum is 39 characters)"]}}


@pytest.mark.parametrize("username", ["jake doe", "jake/../x", "jäke", "jake@home", "<b>jake</b>"])
async def test_registration_with_a_username_outside_the_charset_is_refused(
    client: AsyncClient, username: str
) -> None:
    response = await post_user(client, new_user(username=username))

    assert response.status_code == 422
    assert response.json() == {
        "errors": {"username": ["may contain only letters, digits, underscores and hyphens"]}
    }


async def test_registration_with_wrong_types_names_each_field(client: AsyncClient) -> None:
    response = await post_user(client, {"user": {"username": 5, "email": ["a"], "password": True}})

    assert response.status_code == 422
    assert response.json() == {
        "errors": {
            "username": ["must be a string"],
            "email": ["must be a string"],
            "password": ["must be a string"],
        }
    }


async def test_registration_reports_several_bad_fields_at_once(client: AsyncClient) -> None:
    response = await post_user(
        client, {"user": {"username": "a b", "email": "nope", "password": "short"}}
    )

    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"username", "email", "password"}


async def test_registration_without_the_user_wrapper_is_refused(client: AsyncClient) -> None:
    response = await post_user(client, new_user()["user"])

    assert response.status_code == 422
    assert response.json() == {"errors": {"user": [BLANK]}}


@pytest.mark.parametrize("user", [[1], "jake", 3, None])
async def test_registration_with_a_user_that_is_not_an_object_is_refused(
    client: AsyncClient, user: Any
) -> None:
    response = await post_user(client, {"user": user})

    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["user"]


@pytest.mark.parametrize("body", [[], ["user"], "user", 42])
async def test_registration_with_a_body_that_is_not_an_object_is_refused(
    client: AsyncClient, body: Any
) -> None:
    response = await post_user(client, body)

    assert response.status_code == 422
    assert response.json() == {"errors": {"body": ["must be an object"]}}


async def test_registration_with_invalid_json_is_refused(client: AsyncClient) -> None:
    response = await client.post(
        "/api/users",
        content=b'{"user": {"username": ',
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 422
    assert response.json() == {"errors": {"body": ["is not valid JSON"]}}


async def test_registration_with_an_empty_body_is_refused(client: AsyncClient) -> None:
    response = await client.post(
        "/api/users", content=b"", headers={"content-type": "application/json"}
    )

    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["body"]


# ------------------------------------------------------------ registration: uniqueness
# Spec 2.0.0 lists 409 (ConflictError) for a registration whose email or username is taken.


async def test_an_email_cannot_be_registered_twice(client: AsyncClient) -> None:
    jake = await register(client)

    response = await post_user(client, new_user(email=jake.email))

    assert response.status_code == 409
    assert response.json() == {"errors": {"email": [TAKEN]}}


async def test_an_email_is_taken_whatever_its_case(client: AsyncClient) -> None:
    await register(client, email="jake.case@example.com")

    response = await post_user(client, new_user(email="JAKE.Case@EXAMPLE.com"))

    assert response.status_code == 409
    assert response.json() == {"errors": {"email": [TAKEN]}}


async def test_a_username_cannot_be_registered_twice(client: AsyncClient) -> None:
    jake = await register(client)

    response = await post_user(client, new_user(username=jake.username))

    assert response.status_code == 409
    assert response.json() == {"errors": {"username": [TAKEN]}}


async def test_a_username_is_taken_whatever_its_case(client: AsyncClient) -> None:
    await register(client, username="CaseyJones")

    response = await post_user(client, new_user(username="caseyJONES"))

    assert response.status_code == 409
    assert response.json() == {"errors": {"username": [TAKEN]}}


async def test_registration_reports_email_and_username_taken_together(
    client: AsyncClient,
) -> None:
    jake = await register(client)

    response = await post_user(
        client, new_user(username=jake.username.upper(), email=jake.email.upper())
    )

    assert response.status_code == 409
    assert response.json() == {"errors": {"email": [TAKEN], "username": [TAKEN]}}


async def test_a_refused_registration_creates_nobody(client: AsyncClient) -> None:
    jake = await register(client)
    await post_user(client, new_user(username="intruder", email=jake.email))

    response = await post_user(client, new_user(username="intruder"))

    assert response.status_code == 201


async def test_concurrent_identical_registrations_create_exactly_one_user(
    client: AsyncClient,
) -> None:
    body = new_user()

    responses = await asyncio.gather(post_user(client, body), post_user(client, body))

    assert sorted(r.status_code for r in responses) == [201, 409], [r.text for r in responses]
    loser = next(r for r in responses if r.status_code == 409)
    assert loser.json() == {"errors": {"email": [TAKEN], "username": [TAKEN]}}
    login_response = await log_in(client, body["user"]["email"], body["user"]["password"])
    assert login_response.status_code == 200


async def test_concurrent_registrations_differing_only_in_case_create_one_user(
    client: AsyncClient,
) -> None:
    name = unique("racer")
    lower = new_user(username=name, email=f"{name}@example.com")
    upper = new_user(username=name.upper(), email=f"{name.upper()}@EXAMPLE.COM")

    responses = await asyncio.gather(post_user(client, lower), post_user(client, upper))

    assert sorted(r.status_code for r in responses) == [201, 409], [r.text for r in responses]


async def test_a_registration_that_loses_the_race_at_commit_is_a_409_naming_both_fields(
    client: AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first registration passes the uniqueness check, then is held while its password is
    # hashed; the second one registers the same account meanwhile. The first commit then hits
    # the unique index: refused as the check would have refused it, 409.
    body = new_user()
    hashing, release = asyncio.Event(), asyncio.Event()
    hash_password = security.hash_password

    async def held_once(password: str, settings: Settings | None = None) -> str:
        if not hashing.is_set():
            hashing.set()
            await release.wait()
        return await hash_password(password, settings)

    monkeypatch.setattr(security, "hash_password", held_once)
    first = asyncio.create_task(post_user(client, body))
    await hashing.wait()
    second = await post_user(client, body)
    release.set()
    loser = await first

    assert second.status_code == 201, second.text
    assert loser.status_code == 409, loser.text
    assert loser.json() == {"errors": {"email": [TAKEN], "username": [TAKEN]}}


# ------------------------------------------------------------ login


async def test_login_returns_the_user_with_a_fresh_token(client: AsyncClient) -> None:
    jake = await register(client)

    response = await log_in(client, jake.email, jake.password)

    assert response.status_code == 200, response.text
    user = response.json()["user"]
    assert set(user) == {
        "email",
        "token",
        "refreshToken",
        "username",
        "bio",
        "image",
        "emailVerified",
    }
    assert user["email"] == jake.email
    assert user["username"] == jake.username
    assert user["token"] != jake.token
    assert (await current(client, user["token"])).status_code == 200


async def test_login_with_a_wrong_password_is_unauthorized(client: AsyncClient) -> None:
    jake = await register(client)

    response = await log_in(client, jake.email, jake.password + "-nope")

    assert response.status_code == 401
    assert response.json() == {"errors": {"credentials": ["invalid"]}}


async def test_login_with_unknown_email_looks_like_wrong_password(client: AsyncClient) -> None:
    jake = await register(client)

    wrong_password = await log_in(client, jake.email, "not-the-password")
    unknown_email = await log_in(client, "nobody-here@example.com", "not-the-password")

    assert unknown_email.status_code == wrong_password.status_code == 401
    assert unknown_email.json() == wrong_password.json()
    assert unknown_email.headers.get("www-authenticate") == wrong_password.headers.get(
        "www-authenticate"
    )


async def test_login_email_is_case_insensitive(client: AsyncClient) -> None:
    jake = await register(client, email="jake.login@example.com")

    response = await log_in(client, "  JAKE.Login@Example.COM ", jake.password)

    assert response.status_code == 200, response.text
    assert response.json()["user"]["email"] == "jake.login@example.com"


async def test_login_password_is_case_sensitive(client: AsyncClient) -> None:
    jake = await register(client, password="CaseMatters1")

    response = await log_in(client, jake.email, "casematters1")

    assert response.status_code == 401


async def test_login_without_fields_names_them(client: AsyncClient) -> None:
    response = await client.post("/api/users/login", json={"user": {}})

    assert response.status_code == 422
    assert response.json() == {"errors": {"email": [BLANK], "password": [BLANK]}}


@pytest.mark.parametrize("blank", ["", "   "])
async def test_login_with_blank_fields_names_them(client: AsyncClient, blank: str) -> None:
    response = await log_in(client, blank, blank)

    assert response.status_code == 422
    assert response.json() == {"errors": {"email": [BLANK], "password": [BLANK]}}


async def test_login_without_the_user_wrapper_is_refused(client: AsyncClient) -> None:
    response = await client.post(
        "/api/users/login", json={"email": "a@example.com", "password": "whatever1"}
    )

    assert response.status_code == 422
    assert response.json() == {"errors": {"user": [BLANK]}}


# ------------------------------------------------------------ current user


@pytest.mark.parametrize("scheme", ["Token", "Bearer", "token", "bearer"])
async def test_the_current_user_is_found_with_either_scheme(
    client: AsyncClient, scheme: str
) -> None:
    jake = await register(client)

    response = await current(client, jake.token, scheme)

    assert response.status_code == 200, response.text
    assert response.json() == {
        "user": {
            "email": jake.email,
            "token": jake.token,
            "username": jake.username,
            "bio": None,
            "image": None,
            "emailVerified": False,
        }
    }


async def test_the_current_user_requires_a_token(client: AsyncClient) -> None:
    response = await client.get("/api/user")

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Token"
    assert response.json() == {"errors": {"token": ["is missing"]}}


@pytest.mark.parametrize(
    "header",
    ["Token", "Token ", "Bearer", "Basic amFrZTpqYWtl", "Tokenabc.def.ghi", "Token a.b.c extra"],
)
async def test_a_malformed_authorization_header_is_unauthorized(
    client: AsyncClient, header: str
) -> None:
    response = await client.get("/api/user", headers={"Authorization": header})

    assert_unauthorized(response)
    assert response.json() == {"errors": {"token": ["is invalid or expired"]}}


async def test_a_malformed_header_is_refused_even_around_a_valid_token(
    client: AsyncClient,
) -> None:
    jake = await register(client)

    response = await client.get("/api/user", headers={"Authorization": f"JWT {jake.token}"})

    assert_unauthorized(response)


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "eyJ.eyJ.sig"])
async def test_a_garbage_token_is_unauthorized(client: AsyncClient, token: str) -> None:
    assert_unauthorized(await current(client, token))


async def test_a_tampered_token_is_unauthorized(client: AsyncClient) -> None:
    jake = await register(client)
    header, payload, signature = jake.token.split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")

    assert_unauthorized(await current(client, f"{header}.{payload}.{flipped}"))


async def test_a_token_signed_with_another_key_is_unauthorized(
    client: AsyncClient, settings: Settings
) -> None:
    jake = await register(client)
    forged = jwt.encode(
        claims(settings, user_id(jake)), "another-secret-key-of-decent-length", algorithm="HS256"
    )

    assert_unauthorized(await current(client, forged))


async def test_a_hand_signed_token_with_the_right_key_is_accepted(
    client: AsyncClient, settings: Settings
) -> None:
    # The control for the forged tokens above and below: only the changed part makes them fail.
    jake = await register(client)
    # The token names jake's real session (sessions are checked on every request).
    session_id = jwt.get_unverified_claims(jake.token)["sid"]
    token = jwt.encode(
        claims(settings, user_id(jake), sid=session_id),
        settings.secret_key.get_secret_value(),
        "HS256",
    )

    response = await current(client, token)

    assert response.status_code == 200
    assert response.json()["user"]["username"] == jake.username


async def test_an_expired_token_is_unauthorized(client: AsyncClient, settings: Settings) -> None:
    jake = await register(client)
    long_ago = datetime.now(UTC) - timedelta(seconds=settings.access_token_ttl_seconds + 60)
    expired = create_access_token(user_id(jake), settings, now=long_ago)

    assert_unauthorized(await current(client, expired))


async def test_an_alg_none_token_is_unauthorized(client: AsyncClient, settings: Settings) -> None:
    jake = await register(client)
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims(settings, user_id(jake)))}."

    assert_unauthorized(await current(client, unsigned))


async def test_a_token_for_another_audience_is_unauthorized(
    client: AsyncClient, settings: Settings
) -> None:
    jake = await register(client)
    token = jwt.encode(
        claims(settings, user_id(jake), aud="another-api"),
        settings.secret_key.get_secret_value(),
        "HS256",
    )

    assert_unauthorized(await current(client, token))


async def test_a_token_for_a_deleted_user_is_unauthorized(
    client: AsyncClient, app: FastAPI
) -> None:
    jake = await register(client)
    assert (await current(client, jake.token)).status_code == 200

    async with app.state.engine.begin() as conn:
        await conn.execute(text("DELETE FROM users WHERE id = :id"), {"id": user_id(jake)})

    assert_unauthorized(await current(client, jake.token))


async def test_a_token_for_a_user_that_never_existed_is_unauthorized(
    client: AsyncClient, settings: Settings
) -> None:
    assert_unauthorized(await current(client, create_access_token(987654, settings)))


# ------------------------------------------------------------ update


async def test_updating_the_email_moves_the_login(client: AsyncClient) -> None:
    jake = await register(client)
    new_email = f"{unique('moved')}@example.com"

    response = await update(client, jake, email=new_email.upper())

    assert response.status_code == 200, response.text
    assert response.json()["user"]["email"] == new_email
    assert (await log_in(client, new_email, jake.password)).status_code == 200
    assert (await log_in(client, jake.email, jake.password)).status_code == 401


async def test_updating_the_username_is_visible_on_the_profile(client: AsyncClient) -> None:
    jake = await register(client)
    new_name = unique("renamed")

    response = await update(client, jake, username=new_name)

    assert response.status_code == 200, response.text
    assert response.json()["user"]["username"] == new_name
    assert (await client.get(f"/api/profiles/{new_name}")).status_code == 200
    assert (await client.get(f"/api/profiles/{jake.username}")).status_code == 404


async def test_changing_the_username_keeps_the_old_token_working(client: AsyncClient) -> None:
    jake = await register(client)
    new_name = unique("renamed")
    await update(client, jake, username=new_name)

    response = await current(client, jake.token)

    assert response.status_code == 200
    assert response.json()["user"]["username"] == new_name


async def test_a_user_may_change_the_case_of_their_own_username(client: AsyncClient) -> None:
    jake = await register(client, username=unique("lowjake"))

    response = await update(client, jake, username=jake.username.upper())

    assert response.status_code == 200, response.text
    assert response.json()["user"]["username"] == jake.username.upper()


async def test_a_user_may_resend_their_own_email_in_another_case(client: AsyncClient) -> None:
    jake = await register(client)

    response = await update(client, jake, email=jake.email.upper())

    assert response.status_code == 200, response.text
    assert response.json()["user"]["email"] == jake.email


async def test_updating_the_password_replaces_the_old_one(client: AsyncClient) -> None:
    jake = await register(client)

    response = await update(client, jake, password="a-brand-new-password")

    assert response.status_code == 200, response.text
    assert "a-brand-new-password" not in response.text
    assert (await log_in(client, jake.email, "a-brand-new-password")).status_code == 200
    assert (await log_in(client, jake.email, jake.password)).status_code == 401


async def test_updating_the_password_checks_its_length(client: AsyncClient) -> None:
    jake = await register(client)

    response = await update(client, jake, password="short")

    assert response.status_code == 422
    assert response.json() == {"errors": {"password": ["is too short (minimum is 8 characters)"]}}
    assert (await log_in(client, jake.email, jake.password)).status_code == 200


async def test_updating_bio_and_image_returns_and_keeps_them(client: AsyncClient) -> None:
    jake = await register(client)
    image = "https://i.stack.imgur.com/xHWG8.jpg"

    response = await update(client, jake, bio="I like to skateboard", image=image)

    assert response.status_code == 200, response.text
    assert response.json()["user"]["bio"] == "I like to skateboard"
    assert response.json()["user"]["image"] == image
    again = (await current(client, jake.token)).json()["user"]
    assert (again["bio"], again["image"]) == ("I like to skateboard", image)


async def test_the_update_response_echoes_the_callers_token(client: AsyncClient) -> None:
    jake = await register(client)

    response = await update(client, jake, bio="hello")

    assert response.json()["user"]["token"] == jake.token


@pytest.mark.parametrize("cleared", [None, "", "   "])
async def test_null_or_empty_clears_bio_and_image(client: AsyncClient, cleared: Any) -> None:
    jake = await register(client)
    await update(client, jake, bio="something", image="https://example.com/me.png")

    response = await update(client, jake, bio=cleared, image=cleared)

    assert response.status_code == 200, response.text
    assert response.json()["user"]["bio"] is None
    assert response.json()["user"]["image"] is None
    assert (await current(client, jake.token)).json()["user"]["bio"] is None


async def test_fields_not_sent_are_left_alone(client: AsyncClient) -> None:
    jake = await register(client)
    await update(client, jake, bio="keep me", image="https://example.com/keep.png")

    response = await update(client, jake, username=unique("other"))

    assert response.json()["user"]["bio"] == "keep me"
    assert response.json()["user"]["image"] == "https://example.com/keep.png"
    assert response.json()["user"]["email"] == jake.email


@pytest.mark.parametrize(
    "image", ["not a url", "javascript:alert(1)", "ftp://example.com/a.png", "https://x y.com/a"]
)
async def test_an_image_that_is_not_an_http_url_is_refused(client: AsyncClient, image: str) -> None:
    jake = await register(client)

    response = await update(client, jake, image=image)

    assert response.status_code == 422
    assert response.json() == {"errors": {"image": ["must be an http(s) URL"]}}


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({"bio": "b" * 2001}, {"bio": ["is too long (maximum is 2000 characters)"]}),
        (
            {"image": "https://example.com/" + "i" * 2040},
            {"image": ["is too long (maximum is 2048 characters)"]},
        ),
        ({"bio": 5}, {"bio": ["must be a string"]}),
        ({"username": "u" * 40}, {"username": ["is too long (maximum is 39 characters)"]}),
    ],
)
async def test_an_update_with_an_oversized_or_mistyped_field_is_refused(
    client: AsyncClient, fields: dict[str, Any], errors: dict[str, list[str]]
) -> None:
    jake = await register(client)

    response = await update(client, jake, **fields)

    assert response.status_code == 422
    assert response.json() == {"errors": errors}


async def test_a_bio_of_the_maximum_length_is_kept_whole(client: AsyncClient) -> None:
    jake = await register(client)

    response = await update(client, jake, bio="b" * 2000)

    assert response.status_code == 200, response.text
    assert response.json()["user"]["bio"] == "b" * 2000


@pytest.mark.parametrize("field", ["email", "username", "password"])
async def test_required_fields_cannot_be_nulled_by_an_update(
    client: AsyncClient, field: str
) -> None:
    jake = await register(client)

    response = await update(client, jake, **{field: None})

    assert response.status_code == 422
    assert response.json() == {"errors": {field: [BLANK]}}


@pytest.mark.parametrize("field", ["email", "username", "password"])
@pytest.mark.parametrize("blank", ["", "   "])
async def test_required_fields_cannot_be_blanked_by_an_update(
    client: AsyncClient, field: str, blank: str
) -> None:
    jake = await register(client)

    response = await update(client, jake, **{field: blank})

    assert response.status_code == 422
    assert response.json() == {"errors": {field: [BLANK]}}
    assert (await log_in(client, jake.email, jake.password)).status_code == 200


async def test_an_update_with_a_malformed_email_is_refused(client: AsyncClient) -> None:
    jake = await register(client)

    response = await update(client, jake, email="not-an-email")

    assert response.status_code == 422
    assert response.json() == {"errors": {"email": ["is invalid"]}}


async def test_an_update_with_a_bad_username_is_refused(client: AsyncClient) -> None:
    jake = await register(client)

    response = await update(client, jake, username="no spaces")

    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["username"]


# Spec 2.0.0 lists no 409 for an update: a taken email or username there is a 422.


async def test_updating_to_a_taken_email_is_refused(client: AsyncClient) -> None:
    jake = await register(client)
    other = await register(client)

    response = await update(client, jake, email=other.email.upper())

    assert response.status_code == 422
    assert response.json() == {"errors": {"email": [TAKEN]}}
    assert (await current(client, jake.token)).json()["user"]["email"] == jake.email


async def test_updating_to_a_taken_username_is_refused(client: AsyncClient) -> None:
    jake = await register(client)
    other = await register(client)

    response = await update(client, jake, username=other.username.upper())

    assert response.status_code == 422
    assert response.json() == {"errors": {"username": [TAKEN]}}


async def test_updating_to_a_taken_email_and_username_reports_both(client: AsyncClient) -> None:
    jake = await register(client)
    other = await register(client)

    response = await update(client, jake, email=other.email, username=other.username)

    assert response.status_code == 422
    assert response.json() == {"errors": {"email": [TAKEN], "username": [TAKEN]}}


async def test_a_refused_update_changes_nothing(client: AsyncClient) -> None:
    jake = await register(client)
    other = await register(client)

    await update(client, jake, username=other.username, bio="should not stick")

    user = (await current(client, jake.token)).json()["user"]
    assert user["username"] == jake.username
    assert user["bio"] is None


async def test_unknown_keys_in_an_update_are_ignored(client: AsyncClient) -> None:
    jake = await register(client)
    other = await register(client)

    response = await update(client, jake, id=user_id(other), token="forged", bio="mine")

    assert response.status_code == 200, response.text
    assert response.json()["user"]["username"] == jake.username
    assert response.json()["user"]["token"] == jake.token
    assert (await current(client, other.token)).json()["user"]["bio"] is None


async def test_an_empty_update_changes_nothing_and_returns_the_user(client: AsyncClient) -> None:
    jake = await register(client)
    await update(client, jake, bio="unchanged")

    response = await update(client, jake)

    assert response.status_code == 200, response.text
    assert response.json() == {
        "user": {
            "email": jake.email,
            "token": jake.token,
            "username": jake.username,
            "bio": "unchanged",
            "image": None,
            "emailVerified": False,
        }
    }


async def test_an_update_without_the_user_wrapper_is_refused(client: AsyncClient) -> None:
    jake = await register(client)

    response = await client.put("/api/user", json={"bio": "hi"}, headers=jake.headers)

    assert response.status_code == 422
    assert response.json() == {"errors": {"user": [BLANK]}}


async def test_an_update_requires_a_token(client: AsyncClient) -> None:
    response = await client.put("/api/user", json={"user": {"bio": "anonymous"}})

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Token"


async def test_an_update_with_a_bad_token_is_unauthorized(client: AsyncClient) -> None:
    response = await client.put(
        "/api/user", json={"user": {"bio": "x"}}, headers=auth("not-a-token")
    )

    assert_unauthorized(response)


# ------------------------------------------------------------ optional authentication


@pytest.mark.parametrize("path", ["/api/articles", "/api/profiles/{username}"])
async def test_optional_auth_routes_work_anonymously(client: AsyncClient, path: str) -> None:
    jake = await register(client)

    response = await client.get(path.format(username=jake.username))

    assert response.status_code == 200, response.text


@pytest.mark.parametrize("path", ["/api/articles", "/api/profiles/{username}"])
@pytest.mark.parametrize("header", ["Token garbage", "Basic abc", "Token", "Bearer a.b.c"])
async def test_optional_auth_routes_refuse_a_bad_token_instead_of_going_anonymous(
    client: AsyncClient, path: str, header: str
) -> None:
    jake = await register(client)

    response = await client.get(
        path.format(username=jake.username), headers={"Authorization": header}
    )

    assert_unauthorized(response)


async def test_optional_auth_routes_refuse_an_expired_token(
    client: AsyncClient, settings: Settings
) -> None:
    jake = await register(client)
    long_ago = datetime.now(UTC) - timedelta(seconds=settings.access_token_ttl_seconds + 60)
    expired = create_access_token(user_id(jake), settings, now=long_ago)

    assert_unauthorized(await client.get("/api/articles", headers=auth(expired)))


async def test_optional_auth_routes_refuse_a_token_for_a_deleted_user(
    client: AsyncClient, app: FastAPI
) -> None:
    jake = await register(client)
    other = await register(client)
    async with app.state.engine.begin() as conn:
        await conn.execute(text("DELETE FROM users WHERE id = :id"), {"id": user_id(jake)})

    response = await client.get(f"/api/profiles/{other.username}", headers=jake.headers)

    assert_unauthorized(response)
