"""OWASP API Top 10, attack by attack, through HTTP: forged tokens, BOLA, mass assignment,
injection strings, oversized and deeply nested bodies, user enumeration."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from httpx import AsyncClient
from jose import jwt

from src.core.config import Settings
from tests.api.security_helpers import b64_json, forged_claims, me, signed
from tests.factories import auth, comment, create_article, log_in, register


async def test_the_forging_helper_makes_tokens_the_api_accepts(
    client: AsyncClient, settings: Settings
) -> None:
    # The control: every forged token below differs from this one in one respect only.
    jake = await register(client)

    assert (await me(client, signed(settings, forged_claims(settings, jake)))).status_code == 200


async def test_an_alg_none_token_is_refused(client: AsyncClient, settings: Settings) -> None:
    jake = await register(client)
    token = f"{b64_json({'alg': 'none', 'typ': 'JWT'})}.{b64_json(forged_claims(settings, jake))}."

    assert (await me(client, token)).status_code == 401


async def test_a_token_signed_with_another_key_is_refused(
    client: AsyncClient, settings: Settings
) -> None:
    jake = await register(client)
    key = "another-key-of-a-decent-length-000"
    token = signed(settings, forged_claims(settings, jake), key=key)

    assert (await me(client, token)).status_code == 401


async def test_hs_rs_algorithm_confusion_is_refused(
    client: AsyncClient, settings: Settings
) -> None:
    # An attacker who knows a server's RSA public key signs HS256 with it as the HMAC secret,
    # or signs RS256 with their own key: the algorithm is pinned, so neither is accepted.
    jake = await register(client)
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem_private = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    rs256 = signed(settings, forged_claims(settings, jake), key=pem_private, algorithm="RS256")
    hs512 = signed(settings, forged_claims(settings, jake), algorithm="HS512")

    assert (await me(client, rs256)).status_code == 401
    assert (await me(client, hs512)).status_code == 401


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"exp": 1_000_000_000}, "expired"),
        ({"nbf": 4_000_000_000}, "not valid yet"),
        ({"aud": "another-api"}, "wrong audience"),
        ({"iss": "someone-else"}, "wrong issuer"),
        ({"sub": None}, "missing subject"),
        ({"jti": None}, "missing token id"),
        ({"iat": None}, "missing issued-at"),
        ({"sid": None}, "missing session"),
        ({"sid": "0" * 32}, "a session that does not exist"),
    ],
)
async def test_a_token_with_a_bad_claim_is_refused(
    client: AsyncClient, settings: Settings, change: dict[str, Any], why: str
) -> None:
    jake = await register(client)
    token = signed(settings, forged_claims(settings, jake, **change))

    response = await me(client, token)

    assert response.status_code == 401, why
    assert response.json() == {"errors": {"token": ["is invalid or expired"]}}


async def test_a_token_for_another_user_with_my_session_is_refused(
    client: AsyncClient, settings: Settings
) -> None:
    # Even with the signing key, a session id only works for the user it belongs to.
    jake = await register(client)
    ann = await register(client)
    ann_id = jwt.get_unverified_claims(ann.token)["sub"]

    token = signed(settings, forged_claims(settings, jake, sub=ann_id))

    assert (await me(client, token)).status_code == 401


# ------------------------------------------------------------------ BOLA


async def test_a_user_cannot_update_or_delete_another_users_article(client: AsyncClient) -> None:
    owner, intruder = await register(client), await register(client)
    article = await create_article(client, owner)
    url = f"/api/articles/{article['slug']}"

    update = await client.put(url, json={"article": {"title": "pwned"}}, headers=intruder.headers)
    delete = await client.delete(url, headers=intruder.headers)

    assert update.status_code == 403
    assert delete.status_code == 403
    assert (await client.get(url)).json()["article"]["title"] == article["title"]


async def test_a_user_cannot_delete_another_users_comment(client: AsyncClient) -> None:
    owner, commenter, intruder = (
        await register(client),
        await register(client),
        await register(client),
    )
    article = await create_article(client, owner)
    said = await comment(client, commenter, article["slug"])

    response = await client.delete(
        f"/api/articles/{article['slug']}/comments/{said['id']}", headers=intruder.headers
    )

    assert response.status_code == 403
    listed = await client.get(f"/api/articles/{article['slug']}/comments")
    assert [c["id"] for c in listed.json()["comments"]] == [said["id"]]


# ------------------------------------------------------------------ mass assignment


async def test_mass_assignment_on_an_article_changes_nothing_protected(
    client: AsyncClient,
) -> None:
    owner, other = await register(client), await register(client)
    article = await create_article(client, owner)
    url = f"/api/articles/{article['slug']}"

    response = await client.put(
        url,
        json={
            "article": {
                "body": "new body",
                "id": 999,
                "author": {"username": other.username},
                "createdAt": "2000-01-01T00:00:00.000Z",
                "favoritesCount": 1000,
                "favorited": True,
                "slug": "chosen-slug",
            }
        },
        headers=owner.headers,
    )

    assert response.status_code == 200, response.text
    after = (await client.get(url)).json()["article"]
    assert after["body"] == "new body"
    assert after["author"]["username"] == owner.username
    assert after["createdAt"] == article["createdAt"]
    assert after["favoritesCount"] == 0
    assert after["slug"] == article["slug"]


async def test_mass_assignment_on_a_user_cannot_grant_a_role(
    client: AsyncClient, app: FastAPI
) -> None:
    jake = await register(client)
    victim = await register(client)

    response = await client.put(
        "/api/user",
        json={"user": {"bio": "hi", "role": "admin", "id": 1, "active": True, "isActive": True}},
        headers=jake.headers,
    )

    assert response.status_code == 200, response.text
    assert "role" not in response.json()["user"]
    # Still no admin powers.
    denied = await client.post(
        f"/api/admin/users/{victim.username}/deactivate", headers=jake.headers
    )
    assert denied.status_code == 403


async def test_registration_cannot_choose_a_role(client: AsyncClient) -> None:
    response = await client.post(
        "/api/users",
        json={
            "user": {
                "username": "sneaky",
                "email": "sneaky@example.com",
                "password": "long-enough-pw",
                "role": "admin",
            }
        },
    )
    assert response.status_code == 201
    token = response.json()["user"]["token"]

    denied = await client.post("/api/admin/users/sneaky/deactivate", headers=auth(token))

    assert denied.status_code == 403


# ------------------------------------------------------------------ injection strings


INJECTION = "'; DROP TABLE users; -- \" OR 1=1 <script>alert('x')</script> &amp; \\ %s {{7*7}}"


async def test_sql_and_html_metacharacters_are_stored_and_returned_verbatim(
    client: AsyncClient,
) -> None:
    jake = await register(client)
    article = await create_article(
        client, jake, title="Title " + INJECTION, body=INJECTION, description=INJECTION
    )
    said = await comment(client, jake, article["slug"], body=INJECTION)
    await client.put("/api/user", json={"user": {"bio": INJECTION}}, headers=jake.headers)

    fetched = await client.get(f"/api/articles/{article['slug']}")
    comments = await client.get(f"/api/articles/{article['slug']}/comments")
    profile = await client.get(f"/api/profiles/{jake.username}")

    assert fetched.headers["content-type"] == "application/json"
    assert fetched.json()["article"]["body"] == INJECTION
    assert fetched.json()["article"]["description"] == INJECTION
    assert comments.json()["comments"][0]["body"] == said["body"] == INJECTION
    assert profile.json()["profile"]["bio"] == INJECTION
    # The users table survived, and the search filters treat the string as data.
    assert (await me(client, jake.token)).status_code == 200
    listed = await client.get("/api/articles", params={"author": INJECTION, "tag": INJECTION})
    assert listed.status_code == 200
    assert listed.json()["articlesCount"] == 0


async def test_an_injection_string_as_login_email_is_just_a_wrong_login(
    client: AsyncClient,
) -> None:
    await register(client)

    response = await log_in(client, "' OR '1'='1", "' OR '1'='1")

    assert response.status_code == 401


# ------------------------------------------------------------------ bodies


async def test_an_oversized_body_is_refused_with_413(
    client: AsyncClient, settings: Settings
) -> None:
    jake = await register(client)
    body = {"article": {"title": "t", "description": "d", "body": "x" * settings.max_body_bytes}}

    response = await client.post("/api/articles", json=body, headers=jake.headers)

    assert response.status_code == 413
    assert response.json() == {"errors": {"body": ["request body too large"]}}


async def test_an_oversized_body_without_a_length_is_refused_with_413(
    client: AsyncClient, settings: Settings
) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(settings.max_body_bytes // 1024 + 2):
            yield b" " * 1024

    response = await client.post(
        "/api/users", content=chunks(), headers={"content-type": "application/json"}
    )

    assert response.status_code == 413


async def test_a_deeply_nested_body_is_refused(client: AsyncClient, settings: Settings) -> None:
    depth = settings.max_json_depth + 1
    body = '{"user": ' + "[" * depth + "]" * depth + "}"

    response = await client.post(
        "/api/users", content=body, headers={"content-type": "application/json"}
    )

    assert response.status_code == 422
    assert response.json() == {"errors": {"body": ["JSON nesting is too deep"]}}


async def test_a_very_deep_body_never_reaches_the_json_parser(client: AsyncClient) -> None:
    body = "[" * 200_000 + "]" * 200_000  # would overflow a recursive parser

    response = await client.post(
        "/api/users", content=body, headers={"content-type": "application/json"}
    )

    assert response.status_code == 422


async def test_brackets_inside_strings_do_not_count_as_nesting(client: AsyncClient) -> None:
    jake = await register(client)
    text = "[[[[[[[[[[{{{{{{{{{{" * 10 + '\\"[[['

    article = await create_article(client, jake, body=text)

    assert article["body"] == text


async def test_a_body_that_is_not_json_is_refused_with_415(client: AsyncClient) -> None:
    response = await client.post(
        "/api/users",
        content="user[email]=a@b.c&user[password]=x",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )

    assert response.status_code == 415
    assert response.json() == {"errors": {"body": ["content type must be application/json"]}}


async def test_a_method_no_route_takes_is_405_whatever_its_body(client: AsyncClient) -> None:
    for path in ("/api/tags", "/api/user/image"):
        response = await client.post(
            path, content=b"--x\r\n", headers={"content-type": "multipart/form-data; boundary=x"}
        )
        assert response.status_code == 405, (path, response.text)
        assert "allow" in response.headers


async def test_a_body_without_content_type_is_refused_with_415(client: AsyncClient) -> None:
    response = await client.post("/api/users/login", content=b'{"user": {}}')

    assert response.status_code == 415


async def test_json_with_a_charset_is_accepted(client: AsyncClient) -> None:
    jake = await register(client)

    response = await client.post(
        "/api/users/login",
        content=json.dumps({"user": {"email": jake.email, "password": jake.password}}),
        headers={"content-type": "application/json; charset=utf-8"},
    )

    assert response.status_code == 200


# ------------------------------------------------------------------ user enumeration


async def test_login_gives_one_answer_whether_or_not_the_email_exists(
    client: AsyncClient,
) -> None:
    jake = await register(client)

    wrong_password = await log_in(client, jake.email, "not-the-password")
    no_such_user = await log_in(client, "nobody@example.com", "not-the-password")

    assert wrong_password.status_code == no_such_user.status_code == 401
    assert wrong_password.json() == no_such_user.json()
    assert wrong_password.headers.get("www-authenticate") == no_such_user.headers.get(
        "www-authenticate"
    )
