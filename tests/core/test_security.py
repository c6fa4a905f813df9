"""Security primitives: password hashing, access tokens and the settings that guard them."""

from __future__ import annotations

import base64
import json
import os
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from jose import jwt
from pydantic import ValidationError

from src.core import security
from src.core.config import DEFAULT_SECRET_KEY, Settings

SECRET = "unit-test-secret-key-that-is-long-enough-42"
SQLITE_URL = "sqlite+aiosqlite:///:memory:"


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"database_url": SQLITE_URL, "secret_key": SECRET}
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def claims(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """The claims create_access_token writes, with some replaced (None removes one)."""
    now = int(datetime.now(UTC).timestamp())
    values: dict[str, Any] = {
        "sub": "7",
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "jti": uuid.uuid4().hex,
        "sid": uuid.uuid4().hex,
    }
    values.update(overrides)
    return {name: value for name, value in values.items() if value is not None}


def sign(payload: dict[str, Any], secret: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(payload, secret, algorithm=algorithm)


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unsigned(payload: dict[str, Any]) -> str:
    """An `alg: none` token: header and claims, empty signature."""
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(payload)}."


# ------------------------------------------------------------ passwords


@pytest.mark.parametrize("length", [10, 100])
async def test_a_hashed_password_verifies_and_a_wrong_one_does_not(length: int) -> None:
    password = ("p4ssw0rd!" * 20)[:length]
    assert len(password.encode()) == length

    hashed = await security.hash_password(password)

    assert hashed.startswith("$argon2id$")
    assert password not in hashed
    assert await security.verify_password(password, hashed) is True
    assert await security.verify_password(password + "x", hashed) is False
    assert await security.verify_password(password[:-1], hashed) is False


async def test_long_passwords_are_not_truncated_before_hashing() -> None:
    # bcrypt would ignore everything after byte 72; argon2 must not.
    password = "a" * 99 + "b"
    hashed = await security.hash_password(password)

    assert await security.verify_password("a" * 99 + "c", hashed) is False
    assert await security.verify_password("a" * 72, hashed) is False


async def test_hashing_the_same_password_twice_uses_different_salts() -> None:
    first = await security.hash_password("same-password")
    second = await security.hash_password("same-password")

    assert first != second
    assert await security.verify_password("same-password", second) is True


async def test_verifying_against_a_missing_hash_fails() -> None:
    assert await security.verify_password("anything-at-all", None) is False


@pytest.mark.skipif(sys.platform != "linux", reason="a nice value per thread is Linux's")
async def test_passwords_are_hashed_in_threads_that_yield_the_core_to_requests() -> None:
    hasher = security.PasswordHasher(time_cost=1, memory_cost_kib=1024, parallelism=1)

    def niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    assert niceness() < security.HASHING_NICENESS  # the suite's own thread: as started
    assert await hasher._off_loop(niceness) >= security.HASHING_NICENESS


# ------------------------------------------------------------ access tokens


def test_a_created_token_decodes_to_its_user_and_lifetime() -> None:
    settings = make_settings(access_token_ttl_seconds=600)
    now = datetime.now(UTC).replace(microsecond=0)

    token = security.create_access_token(42, settings, now=now)
    decoded = security.decode_access_token(token, settings)

    assert decoded.user_id == 42
    assert decoded.issued_at == now
    assert decoded.expires_at == now + timedelta(seconds=600)
    assert len(decoded.token_id) == 32


def test_each_token_gets_its_own_id() -> None:
    settings = make_settings()
    first = security.decode_access_token(security.create_access_token(1, settings), settings)
    second = security.decode_access_token(security.create_access_token(1, settings), settings)

    assert first.token_id != second.token_id


def test_a_token_carries_the_user_id_as_a_string_subject() -> None:
    settings = make_settings()
    token = security.create_access_token(5, settings)

    payload = jwt.get_unverified_claims(token)

    assert payload["sub"] == "5"
    assert payload["iss"] == settings.jwt_issuer
    assert payload["aud"] == settings.jwt_audience
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


def test_a_hand_built_token_with_every_claim_is_accepted() -> None:
    # Guards the helpers below: the rejections that follow are about the one claim changed.
    settings = make_settings()
    assert security.decode_access_token(sign(claims(settings)), settings).user_id == 7


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"aud": "someone-else"}, "wrong audience"),
        ({"iss": "not-conduit"}, "wrong issuer"),
        ({"exp": int(datetime.now(UTC).timestamp()) - 10}, "expired"),
        ({"nbf": int(datetime.now(UTC).timestamp()) + 3600}, "not valid yet"),
        ({"sub": None}, "no subject"),
        ({"sub": "jake"}, "subject is a username, not an id"),
        ({"sub": "-1"}, "negative subject"),
        ({"sub": "\u00b2"}, "a unicode digit that int() refuses"),
        ({"sub": "\u0663"}, "an arabic-indic digit that int() reads as 3"),
        ({"sub": 7}, "subject is not a string"),
        ({"jti": None}, "no token id"),
        ({"exp": None}, "no expiry"),
        ({"iat": None}, "no issued-at"),
        ({"aud": None}, "no audience"),
        ({"iss": None}, "no issuer"),
    ],
)
def test_decoding_rejects_a_token_with_a_bad_claim(change: dict[str, Any], why: str) -> None:
    settings = make_settings()
    token = sign(claims(settings, **change))

    with pytest.raises(security.InvalidTokenError):
        security.decode_access_token(token, settings)


def test_decoding_rejects_a_token_signed_with_another_key() -> None:
    settings = make_settings()
    token = sign(claims(settings), secret="another-secret-that-is-also-long-enough")

    with pytest.raises(security.InvalidTokenError):
        security.decode_access_token(token, settings)


def test_decoding_rejects_an_unsigned_alg_none_token() -> None:
    settings = make_settings()

    with pytest.raises(security.InvalidTokenError):
        security.decode_access_token(unsigned(claims(settings)), settings)


def test_decoding_rejects_a_token_using_another_algorithm_than_configured() -> None:
    settings = make_settings()
    token = sign(claims(settings), algorithm="HS512")

    with pytest.raises(security.InvalidTokenError):
        security.decode_access_token(token, settings)


def test_decoding_rejects_an_expired_token_made_by_the_service_itself() -> None:
    settings = make_settings(access_token_ttl_seconds=60)
    token = security.create_access_token(1, settings, now=datetime.now(UTC) - timedelta(hours=1))

    with pytest.raises(security.InvalidTokenError):
        security.decode_access_token(token, settings)


def test_a_remembered_token_still_expires_on_time() -> None:
    """Verified tokens are remembered with their window: the clock is checked every time."""
    settings = make_settings()
    now = int(time.time())
    token = sign(claims(settings, iat=now - 10, nbf=now - 10, exp=now + 1))
    assert security.decode_access_token(token, settings).user_id == 7  # verified, remembered

    time.sleep(2.1)  # past exp, at jose's whole-second resolution

    with pytest.raises(security.InvalidTokenError, match="expired"):
        security.decode_access_token(token, settings)


def test_a_remembered_token_is_not_accepted_under_another_key() -> None:
    """Rotating SECRET_KEY refuses the old tokens at once, remembered or not."""
    old, rotated = (
        make_settings(),
        make_settings(secret_key="a-rotated-secret-key-long-enough-0123"),
    )
    token = security.create_access_token(3, old)
    assert security.decode_access_token(token, old).user_id == 3

    with pytest.raises(security.InvalidTokenError):
        security.decode_access_token(token, rotated)


def test_a_refused_token_is_never_remembered() -> None:
    settings = make_settings()
    token = sign(claims(settings), secret="another-secret-that-is-also-long-enough")
    for _ in range(2):  # refused in full both times: only accepted tokens are remembered
        with pytest.raises(security.InvalidTokenError, match="Signature"):
            security.decode_access_token(token, settings)


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "a.b", "....."])
def test_decoding_rejects_strings_that_are_not_tokens(token: str) -> None:
    with pytest.raises(security.InvalidTokenError):
        security.decode_access_token(token, make_settings())


@pytest.mark.parametrize("algorithm", ["HS256", "HS384", "HS512"])
def test_every_algorithm_signs_tokens_of_the_accepted_shape(algorithm: str) -> None:
    # Their signatures end a segment at each length mod 4 that holds whole bytes: 3, 0, 2.
    settings = make_settings(jwt_algorithm=algorithm)
    token = security.create_access_token(9, settings)

    security.check_access_token_shape(token, algorithm)
    assert security.decode_access_token(token, settings).user_id == 9


@pytest.mark.parametrize("algorithm", ["HS256", "HS512"])
def test_a_signature_spelled_with_its_unused_bits_set_is_refused(algorithm: str) -> None:
    # A loose base64 decoder reads the same bytes: the same signature under another name.
    settings = make_settings(jwt_algorithm=algorithm)
    token = security.create_access_token(9, settings)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    respelled = token[:-1] + alphabet[alphabet.index(token[-1]) ^ 1]
    assert base64.urlsafe_b64decode(respelled.split(".")[2] + "==") == base64.urlsafe_b64decode(
        token.split(".")[2] + "=="
    )

    with pytest.raises(security.InvalidTokenError):
        security.decode_access_token(respelled, settings)


class _CountingPattern:
    """Stands in for the shape's pattern: records the length of each string it is given."""

    def __init__(self, pattern: Any) -> None:
        self.pattern = pattern
        self.lengths: list[int] = []

    def fullmatch(self, text: str) -> Any:
        self.lengths.append(len(text))
        return self.pattern.fullmatch(text)


def test_a_token_longer_than_the_bound_is_refused_before_its_shape_is_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = make_settings()
    counting = _CountingPattern(security._COMPACT_JWS)
    monkeypatch.setattr(security, "_COMPACT_JWS", counting)
    token = security.create_access_token(9, settings)

    for oversized in (token + "A" * security.MAX_ACCESS_TOKEN_LENGTH, "!" * 16_000_000):
        with pytest.raises(security.InvalidTokenError, match="too long"):
            security.decode_access_token(oversized, settings)
    security.decode_access_token(token, settings)

    assert counting.lengths == [len(token)]


def test_the_shape_is_one_pass_of_one_character_class_per_segment() -> None:
    # No nested or overlapping quantifiers (the dot is outside every class): a failed match
    # retries each position a bounded number of times, so the check is linear in the length.
    assert security._COMPACT_JWS.pattern == (r"([A-Za-z0-9_-]+)\.[A-Za-z0-9_-]+\.([A-Za-z0-9_-]+)")
    near_misses = [
        "A" * (security.MAX_ACCESS_TOKEN_LENGTH - 1) + "!",
        "A." * (security.MAX_ACCESS_TOKEN_LENGTH // 2),
        "A.A." + "A" * (security.MAX_ACCESS_TOKEN_LENGTH - 5) + "=",
    ]
    for text in near_misses:
        assert len(text) <= security.MAX_ACCESS_TOKEN_LENGTH
        with pytest.raises(security.InvalidTokenError):
            security.check_access_token_shape(text, "HS256")


def test_the_remembered_tokens_are_bounded_in_count_and_so_in_bytes() -> None:
    # Only tokens within MAX_ACCESS_TOKEN_LENGTH reach the cache, so it holds at most
    # maxsize x MAX_ACCESS_TOKEN_LENGTH characters of keys.
    maxsize = security._verified_claims.cache_parameters()["maxsize"]
    assert maxsize is not None
    assert maxsize * security.MAX_ACCESS_TOKEN_LENGTH <= 16 * 1024 * 1024


@pytest.mark.parametrize(
    "token",
    [security.new_refresh_token(), "A" * security.MAX_REFRESH_TOKEN_LENGTH],
)
def test_refresh_tokens_of_our_shape_are_well_formed(token: str) -> None:
    assert security.refresh_token_is_well_formed(token)


@pytest.mark.parametrize(
    "token",
    ["", "A" * (security.MAX_REFRESH_TOKEN_LENGTH + 1), "abc=", "a+b/", "a.b", "é", "a\n"],
)
def test_refresh_tokens_of_another_shape_are_not(token: str) -> None:
    assert not security.refresh_token_is_well_formed(token)


# ------------------------------------------------------------ settings


def test_production_refuses_the_default_secret_key() -> None:
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        make_settings(environment="production", secret_key=DEFAULT_SECRET_KEY)


def test_production_refuses_a_short_secret_key() -> None:
    with pytest.raises(ValidationError, match="at least 32 characters"):
        make_settings(environment="production", secret_key="s" * 31)


def test_production_accepts_a_long_private_secret_key() -> None:
    settings = make_settings(environment="production", secret_key="s" * 32)
    assert settings.is_production


def test_development_tolerates_the_default_secret_key() -> None:
    settings = make_settings(environment="development", secret_key=DEFAULT_SECRET_KEY)
    assert settings.secret_key.get_secret_value() == DEFAULT_SECRET_KEY


def test_the_secret_key_is_hidden_from_reprs() -> None:
    assert SECRET not in repr(make_settings())


@pytest.mark.parametrize("url", ["not a url", "://nothing", ""])
def test_a_malformed_database_url_is_rejected_by_name(url: str) -> None:
    with pytest.raises(ValidationError, match="DATABASE_URL"):
        make_settings(database_url=url)


@pytest.mark.parametrize(
    "url",
    [
        "mysql+aiomysql://user@localhost/conduit",
        "postgresql://postgres@localhost/conduit",
        "sqlite:///./conduit.db",
    ],
)
def test_an_unsupported_database_driver_is_rejected_by_name(url: str) -> None:
    with pytest.raises(ValidationError, match="DATABASE_URL must use one of"):
        make_settings(database_url=url)


def test_a_database_url_from_the_environment_is_checked_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "oracle://scott@localhost/orcl")

    with pytest.raises(ValidationError, match="DATABASE_URL"):
        Settings(_env_file=None, secret_key=SECRET)  # type: ignore[call-arg, arg-type]


@pytest.mark.parametrize(
    "url",
    ["postgresql+asyncpg://postgres@127.0.0.1:5432/conduit", "sqlite+aiosqlite:///./x.db"],
)
def test_supported_database_urls_are_accepted(url: str) -> None:
    assert make_settings(database_url=url).database_url == url


def test_cors_origins_from_the_environment_are_split_on_commas(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CORS_ORIGINS", " https://a.example , https://b.example,, ")

    settings = Settings(_env_file=None, database_url=SQLITE_URL)  # type: ignore[call-arg]

    assert settings.cors_origins == ["https://a.example", "https://b.example"]


def test_cors_origins_given_as_a_list_are_kept() -> None:
    settings = make_settings(cors_origins=["https://a.example"])
    assert settings.cors_origins == ["https://a.example"]


def test_a_single_cors_origin_needs_no_comma(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "https://only.example")

    settings = Settings(_env_file=None, database_url=SQLITE_URL)  # type: ignore[call-arg]

    assert settings.cors_origins == ["https://only.example"]
