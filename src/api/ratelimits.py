"""Rate limits for the routes that attackers hammer: login, registration, refresh, writes,
and per API key.

Every limit a request is counted against is also told to the client, on whatever response it
gets (the 429 included), in the IETF draft's structured headers (draft-ietf-httpapi-ratelimit-
headers): `RateLimit-Policy: "writes";q=120;w=60` and `RateLimit: "writes";r=119;t=42`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from fastapi import Request
from starlette.types import Scope

from src.api import http_headers
from src.api.asgi.client_ip import client_ip
from src.core.config import Settings
from src.core.ratelimit import RateLimiter, Verdict
from src.services import messages
from src.services.errors import RateLimited
from src.services.users import normalize_email


def _account_key(value: str) -> str:
    # Keys name accounts by digest: Redis never holds raw emails or tokens.
    return hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]


def _email_key(email: str) -> str:
    # One account however its email is spelled: the form it is stored and looked up in.
    return _account_key(normalize_email(email))


# Where a request's counted limits wait for the edge (src/api/asgi/edge.py) to send them.
SCOPE_KEY = "conduit.rate_limits"
_POLICY = http_headers.RATE_LIMIT_POLICY.lower().encode()
_STATE = http_headers.RATE_LIMIT.lower().encode()


@dataclass(frozen=True, slots=True)
class Counted:
    """One limit this request was counted against: its policy's name, quota and window."""

    policy: str
    quota: int
    window: int
    verdict: Verdict


def response_headers(scope: Scope) -> list[tuple[bytes, bytes]]:
    """`RateLimit-Policy` and `RateLimit` for the limits this request was counted against
    (none: no header). Policy names are fixed tokens of this module, never client input."""
    counted: list[Counted] | None = scope.get(SCOPE_KEY)
    if not counted:
        return []
    policy = ", ".join(f'"{c.policy}";q={c.quota};w={c.window}' for c in counted)
    state = ", ".join(f'"{c.policy}";r={c.verdict.remaining};t={c.verdict.reset}' for c in counted)
    return [(_POLICY, policy.encode()), (_STATE, state.encode())]


async def _enforce(request: Request, checks: list[tuple[str, str, int]]) -> None:
    """Count the request against each (policy, key, quota); the first one exceeded is a 429."""
    settings: Settings = request.app.state.settings
    if not settings.rate_limit_enabled:
        return
    limiter: RateLimiter = request.app.state.rate_limiter
    window = settings.rate_limit_window_seconds
    counted: list[Counted] = request.scope.setdefault(SCOPE_KEY, [])
    for policy, key, limit in checks:
        if limit <= 0:
            continue
        verdict = await limiter.hit(key, limit, window)
        counted.append(Counted(policy, limit, window, verdict))
        if not verdict.allowed:
            raise RateLimited(
                messages.TOO_MANY_REQUESTS.format(seconds=verdict.retry_after), verdict.retry_after
            )


def _ip(request: Request) -> str:
    settings: Settings = request.app.state.settings
    return client_ip(request, settings.trusted_proxies)


async def limit_login(request: Request, email: str) -> None:
    s: Settings = request.app.state.settings
    await _enforce(
        request,
        [
            ("login-ip", f"login:ip:{_ip(request)}", s.rate_limit_login_per_ip),
            ("login-account", f"login:account:{_email_key(email)}", s.rate_limit_login_per_account),
        ],
    )


async def limit_registration(request: Request, email: str) -> None:
    s: Settings = request.app.state.settings
    await _enforce(
        request,
        [
            ("register-ip", f"register:ip:{_ip(request)}", s.rate_limit_register_per_ip),
            (
                "register-account",
                f"register:account:{_email_key(email)}",
                s.rate_limit_login_per_account,
            ),
        ],
    )


async def limit_refresh(request: Request) -> None:
    """Per client IP: decided before the refresh token is even looked up."""
    s: Settings = request.app.state.settings
    await _enforce(
        request, [("refresh-ip", f"refresh:ip:{_ip(request)}", s.rate_limit_refresh_per_ip)]
    )


async def limit_refresh_session(request: Request, session_id: str) -> None:
    """Per session, not per token: each refresh token works once, so a count per token
    never reaches any limit."""
    s: Settings = request.app.state.settings
    await _enforce(
        request,
        [("refresh-session", f"refresh:session:{session_id}", s.rate_limit_refresh_per_session)],
    )


async def limit_api_key(request: Request, key_id: str) -> None:
    """Every request made with an API key, reads included, per key (its id is no secret)."""
    s: Settings = request.app.state.settings
    await _enforce(request, [("api-key", f"api-key:{key_id}", s.rate_limit_per_api_key)])


async def limit_writes(request: Request, user_id: int) -> None:
    s: Settings = request.app.state.settings
    await _enforce(request, [("writes", f"write:user:{user_id}", s.rate_limit_writes_per_user)])


async def limit_password_reset(request: Request, email: str) -> None:
    """Per client IP and per address, counted the same whether or not the address exists."""
    s: Settings = request.app.state.settings
    await _enforce(
        request,
        [
            ("password-reset-ip", f"reset:ip:{_ip(request)}", s.rate_limit_password_reset_per_ip),
            (
                "password-reset-account",
                f"reset:account:{_email_key(email)}",
                s.rate_limit_password_reset_per_account,
            ),
        ],
    )


async def limit_mailed_tokens(request: Request) -> None:
    """Per client IP: redeeming links and codes sent by e-mail (reset, verification)."""
    s: Settings = request.app.state.settings
    ip_limit = s.rate_limit_password_reset_per_ip
    await _enforce(request, [("mailed-token-ip", f"mailed:ip:{_ip(request)}", ip_limit)])


async def limit_verification_mail(request: Request, user_id: int) -> None:
    """Per account: asking for another verification message."""
    s: Settings = request.app.state.settings
    limit = s.rate_limit_password_reset_per_account
    await _enforce(request, [("verify-mail-account", f"verify:user:{user_id}", limit)])
