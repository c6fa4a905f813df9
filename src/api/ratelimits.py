"""Rate limits for the routes that attackers hammer: login, registration, refresh, writes."""

from __future__ import annotations

import hashlib

from fastapi import Request

from src.api.asgi.client_ip import client_ip
from src.core.config import Settings
from src.core.ratelimit import RateLimiter
from src.services import messages
from src.services.errors import RateLimited
from src.services.users import normalize_email


def _account_key(value: str) -> str:
    # Keys name accounts by digest: Redis never holds raw emails or tokens.
    return hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]


def _email_key(email: str) -> str:
    # One account however its email is spelled: the form it is stored and looked up in.
    return _account_key(normalize_email(email))


async def _enforce(request: Request, checks: list[tuple[str, int]]) -> None:
    settings: Settings = request.app.state.settings
    if not settings.rate_limit_enabled:
        return
    limiter: RateLimiter = request.app.state.rate_limiter
    window = settings.rate_limit_window_seconds
    for key, limit in checks:
        if limit <= 0:
            continue
        verdict = await limiter.hit(key, limit, window)
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
            (f"login:ip:{_ip(request)}", s.rate_limit_login_per_ip),
            (f"login:account:{_email_key(email)}", s.rate_limit_login_per_account),
        ],
    )


async def limit_registration(request: Request, email: str) -> None:
    s: Settings = request.app.state.settings
    await _enforce(
        request,
        [
            (f"register:ip:{_ip(request)}", s.rate_limit_register_per_ip),
            (f"register:account:{_email_key(email)}", s.rate_limit_login_per_account),
        ],
    )


async def limit_refresh(request: Request) -> None:
    """Per client IP: decided before the refresh token is even looked up."""
    s: Settings = request.app.state.settings
    await _enforce(request, [(f"refresh:ip:{_ip(request)}", s.rate_limit_refresh_per_ip)])


async def limit_refresh_session(request: Request, session_id: str) -> None:
    """Per session, not per token: each refresh token works once, so a count per token
    never reaches any limit."""
    s: Settings = request.app.state.settings
    await _enforce(request, [(f"refresh:session:{session_id}", s.rate_limit_refresh_per_session)])


async def limit_writes(request: Request, user_id: int) -> None:
    s: Settings = request.app.state.settings
    await _enforce(request, [(f"write:user:{user_id}", s.rate_limit_writes_per_user)])
