"""Tokens as a client sends them: a malformed access token is refused before anything decodes
or remembers it, a token signed with our key but with odd dates is refused, a malformed
refresh token is refused, and every read answers a sent token alike on both of its paths."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from httpx import AsyncClient

from src.core import security
from src.core.config import Settings
from src.services import messages
from tests.api.security_helpers import b64_json, forged_claims, refresh, signed
from tests.apps import app_client
from tests.factories import RegisteredUser, auth, comment, create_article, register, sign_in

INVALID_TOKEN = {"errors": {"token": [messages.TOKEN_INVALID]}}
# Served by FastAPI's routes, and by the hot read path (src/api/asgi/hot_reads.py).
AUTHENTICATED_URLS = ["/api/user", "/api/articles"]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _same_bytes_other_spelling(token: str) -> str:
    """The signature's last character with its unused low bits set: the same bytes to a loose
    base64 decoder, another token to anyone comparing strings."""
    head, signature = token.rsplit(".", 1)
    assert len(signature) % 4 == 3  # two unused bits in the last character
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(signature[-1])
    return f"{head}.{signature[:-1]}{alphabet[last ^ 0b01]}"


def _header_of_brackets(token: str) -> str:
    """A header that would take a JSON parser deep into recursion, before any signature."""
    _, payload, signature = token.split(".")
    return f"{_b64(b'[' * 2000)}.{payload}.{signature}"


MALFORMED: dict[str, Callable[[str], str]] = {
    "junk appended": lambda token: token + "!!!!",
    "padding appended": lambda token: token + "==",
    "100 kB of junk appended": lambda token: token + "!" * 100_000,
    "one more base64 character": lambda token: token + "A",
    "the signature's unused bits set": _same_bytes_other_spelling,
    "a fourth segment": lambda token: token + ".e30",
    "two segments": lambda token: token.rsplit(".", 1)[0],
    "an empty signature": lambda token: token.rsplit(".", 1)[0] + ".",
    "a space inside": lambda token: token[:20] + "\t" + token[20:],
    "a header not ours": lambda token: b64_json({"alg": "HS256"}) + token[token.index(".") :],
    "a header of nested brackets": _header_of_brackets,
    "longer than any token we sign": lambda token: token + "A" * security.MAX_ACCESS_TOKEN_LENGTH,
}


@pytest.mark.parametrize("url", AUTHENTICATED_URLS)
@pytest.mark.parametrize("variant", sorted(MALFORMED))
async def test_a_malformed_token_is_refused_and_never_remembered(
    client: AsyncClient, url: str, variant: str
) -> None:
    jake = await register(client)
    assert (await client.get(url, headers=jake.headers)).status_code == 200  # the control
    security._verified_claims.cache_clear()

    response = await client.get(url, headers=auth(MALFORMED[variant](jake.token)))

    assert response.status_code == 401, variant
    assert response.json() == INVALID_TOKEN
    assert security._verified_claims.cache_info().currsize == 0


def _sign_raw(settings: Settings, payload: bytes) -> str:
    """A token over any payload bytes, signed with the service's own key."""
    signing_input = f"{b64_json({'alg': 'HS256', 'typ': 'JWT'})}.{_b64(payload)}"
    key = settings.secret_key.get_secret_value().encode()
    digest = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(digest)}"


NOW = int(datetime.now(UTC).timestamp())
ODD_DATES: dict[str, dict[str, Any]] = {
    "exp far beyond any date": {"exp": 10**30},
    "exp a string": {"exp": str(NOW + 600)},
    "exp a fraction": {"exp": NOW + 600.5},
    "exp a boolean": {"exp": True},
    "exp infinite": {"exp": float("inf")},
    "exp a list": {"exp": [NOW + 600]},
    "iat a string": {"iat": str(NOW)},
    "iat far beyond any date": {"iat": 10**30},
    "iat a fraction": {"iat": NOW + 0.5},
    "iat negative": {"iat": -1},
    "iat a list": {"iat": [NOW]},
    "nbf a string": {"nbf": str(NOW)},
    "nbf far beyond any date": {"nbf": 10**30},
    "nbf a fraction": {"nbf": NOW - 0.5},
    "nbf negative": {"nbf": -1},
    "nbf not a number": {"nbf": float("nan")},
}


@pytest.mark.parametrize("url", AUTHENTICATED_URLS)
@pytest.mark.parametrize("case", sorted(ODD_DATES))
async def test_a_token_signed_with_our_key_with_odd_dates_is_refused(
    client: AsyncClient, settings: Settings, url: str, case: str
) -> None:
    jake = await register(client)
    token = signed(settings, forged_claims(settings, jake, **ODD_DATES[case]))

    response = await client.get(url, headers=auth(token))

    assert response.status_code == 401, case
    assert response.json() == INVALID_TOKEN


@pytest.mark.parametrize("url", AUTHENTICATED_URLS)
async def test_a_token_signed_with_our_key_over_nested_claims_is_refused(
    client: AsyncClient, settings: Settings, url: str
) -> None:
    token = _sign_raw(settings, b'{"sub":' + b"[" * 1500 + b"]" * 1500 + b"}")
    assert len(token) <= security.MAX_ACCESS_TOKEN_LENGTH

    response = await client.get(url, headers=auth(token))

    assert response.status_code == 401
    assert response.json() == INVALID_TOKEN


async def test_every_token_we_sign_fits_the_bound_with_the_longest_issuer_and_audience(
    settings: Settings,
) -> None:
    longest = settings.model_copy(update={"jwt_issuer": "i" * 255, "jwt_audience": "a" * 255})
    token = security.create_access_token(2**31 - 1, longest, session_id="s" * 32)

    assert security.decode_access_token(token, longest).user_id == 2**31 - 1
    assert len(token) < security.MAX_ACCESS_TOKEN_LENGTH / 2


@pytest.mark.parametrize(
    "refresh_token",
    ["!" * 2000, "A" * (security.MAX_REFRESH_TOKEN_LENGTH + 1), "abc=", "a b", "ab.cd"],
)
async def test_a_malformed_refresh_token_is_refused(
    client: AsyncClient, refresh_token: str
) -> None:
    response = await refresh(client, refresh_token)

    assert response.status_code == 401
    assert response.json() == {"errors": {"refreshToken": [messages.REFRESH_TOKEN_INVALID]}}


async def test_the_refresh_token_we_issue_is_well_formed(client: AsyncClient) -> None:
    jake = await register(client)

    assert security.refresh_token_is_well_formed(jake.refresh_token)
    assert (await refresh(client, jake.refresh_token)).status_code == 200


# ------------------------------------------------------------ one answer on every read path


@pytest.fixture(params=["hot reads", "FastAPI routes"])
async def reads_client(
    request: pytest.FixtureRequest, client: AsyncClient, settings: Settings
) -> AsyncIterator[AsyncClient]:
    """The service answering reads by the hot path, or with it off (HOT_READS_ENABLED=false)."""
    if request.param == "hot reads":
        yield client
        return
    async with app_client(settings.model_copy(update={"hot_reads_enabled": False})) as http:
        yield http


READS = {
    "list": "/api/articles",
    "feed": "/api/articles/feed",
    "article": "/api/articles/{slug}",
    "comments": "/api/articles/{slug}/comments",
    "profile": "/api/profiles/{author}",
    "tags": "/api/tags",
}


async def _token(client: AsyncClient, settings: Settings, reader: RegisteredUser, kind: str) -> str:
    if kind == "garbage":
        return "not-a-token"
    if kind == "expired":
        return signed(
            settings, forged_claims(settings, reader, iat=NOW - 700, nbf=NOW - 700, exp=NOW - 100)
        )
    if kind == "revoked session":
        other = await sign_in(client, reader)
        assert (await client.post("/api/users/logout", headers=other.headers)).status_code == 204
        return other.token
    return reader.token


@pytest.mark.parametrize("read", sorted(READS))
@pytest.mark.parametrize(
    ("kind", "status"),
    [("garbage", 401), ("revoked session", 401), ("expired", 401), ("valid", 200), ("none", 200)],
)
async def test_every_read_answers_a_sent_token_alike_on_both_paths(
    client: AsyncClient,
    reads_client: AsyncClient,
    settings: Settings,
    read: str,
    kind: str,
    status: int,
) -> None:
    author, reader = await register(client), await register(client)
    article = await create_article(client, author, tagList=["tokens"])
    await comment(client, author, article["slug"])
    url = READS[read].format(slug=article["slug"], author=author.username)
    headers = None if kind == "none" else auth(await _token(client, settings, reader, kind))

    response = await reads_client.get(url, headers=headers)

    if read == "feed" and kind == "none":  # the one read that needs a token
        assert response.status_code == 401
        assert response.json() == {"errors": {"token": [messages.AUTH_REQUIRED]}}
        return
    assert response.status_code == status, response.text
    if status == 401:
        assert response.json() == INVALID_TOKEN
