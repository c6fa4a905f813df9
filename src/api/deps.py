"""Request-scoped dependencies, exposed as Annotated aliases for the routers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from functools import partial
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.datastructures import State

from src.api import ratelimits
from src.core.config import Settings
from src.core.db import ConnectionGate, OpenSession, write_session
from src.core.logging import set_user_id
from src.core.reads import OpenReads, ReadPool, Reads, SessionReads
from src.models import User
from src.services import auth, credentials, messages, roles, scopes
from src.services.auth import Viewer
from src.services.errors import Forbidden, Unauthorized

TOKEN_SCHEMES = ("token", "bearer")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Dependencies are `async def` even when they await nothing: FastAPI runs a plain `def`
# dependency in a worker thread, a thread hop per dependency per request
# (docs/performance.md, "The request path").

# One apiKey scheme named "Token", as in the official openapi.yml: the docs page's Authorize
# button sends whatever is typed ("Token <jwt>" or "Bearer <jwt>") as the Authorization header.
authorization_header = APIKeyHeader(
    name="Authorization",
    scheme_name="Token",
    description="Send `Token <jwt>` (as the RealWorld spec says) or `Bearer <jwt>`. "
    "Get the JWT from `POST /api/users/login` or `POST /api/users`. "
    "An API key (`Bearer cdt_...`, scheme `ApiKey`) goes in the same header.",
    auto_error=False,
)


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    # Requests that cannot write get sessions without a transaction (src/core/db.py).
    factory = (
        request.app.state.read_sessionmaker
        if request.method in SAFE_METHODS
        else request.app.state.sessionmaker
    )
    gate: ConnectionGate | None = request.app.state.db_gate
    async with gate.slot() if gate else nullcontext(), factory() as session:
        yield session


@asynccontextmanager
async def open_write_session(state: State) -> AsyncIterator[AsyncSession]:
    """A write session behind the connection gate (also src/api/asgi/idempotency.py's)."""
    gate: ConnectionGate | None = state.db_gate
    async with gate.slot() if gate else nullcontext(), write_session(state.sessionmaker) as session:
        yield session


async def get_open_session(request: Request) -> OpenSession:
    """A write session that takes its pooled connection only when the service opens it."""
    return partial(open_write_session, request.app.state)


def open_reads(state: State) -> AbstractAsyncContextManager[Reads]:
    """Where a read-only request runs its statements: PostgreSQL's shared asyncpg pool, or a
    read session (a WAL snapshot) on SQLite. Also used by src/api/asgi/hot_reads.py."""
    pool: ReadPool | None = state.read_pool
    if pool is not None:
        return pool.request()
    return _session_reads(state.read_sessionmaker)


@asynccontextmanager
async def _session_reads(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Reads]:
    async with sessions() as session:
        yield SessionReads(session)


async def get_reads(request: Request) -> AsyncIterator[Reads]:
    async with open_reads(request.app.state) as reads:
        yield reads


async def get_open_reads(request: Request) -> OpenReads:
    return partial(open_reads, request.app.state)


SettingsDep = Annotated[Settings, Depends(get_settings)]
# Closed when the route returns, before its answer is sent: a transaction (on SQLite, the write
# lock) must not outlive the route while outer layers act on the answer (docs/architecture.md).
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
ReadsDep = Annotated[Reads, Depends(get_reads)]
OpenReadsDep = Annotated[OpenReads, Depends(get_open_reads)]
OpenSessionDep = Annotated[OpenSession, Depends(get_open_session)]


def parse_authorization(header: str | None) -> str | None:
    """`Token <jwt>` or `Bearer <jwt>` -> the jwt; no header -> None; anything else -> 401."""
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() not in TOKEN_SCHEMES or not token or " " in token:
        raise Unauthorized(messages.TOKEN_INVALID, field="token")
    return token


async def optional_token(
    header: Annotated[str | None, Depends(authorization_header)],
) -> str | None:
    return parse_authorization(header)


async def required_token(token: Annotated[str | None, Depends(optional_token)]) -> str:
    if token is None:
        raise Unauthorized(messages.AUTH_REQUIRED, field="token")
    return token


async def account_token(token: Annotated[str, Depends(required_token)]) -> str:
    """The caller's access token, for routes that take no API key (account changes, sessions,
    key management): a key is 403 there, whatever its scopes."""
    credentials.refuse_key(token)
    return token


async def current_user(
    token: Annotated[str, Depends(account_token)],
    session: SessionDep,
    settings: SettingsDep,
) -> User:
    user = await auth.user_from_token(session, settings, token)
    set_user_id(user.id)  # the access log names the user
    return user


async def current_user_unheld(
    token: Annotated[str, Depends(account_token)],
    open_session: OpenSessionDep,
    settings: SettingsDep,
) -> User:
    """As current_user, on a session closed before the route runs: a route that checks or
    hashes a password (PUT /api/user) must hold no pooled connection while it does."""
    async with open_session() as session:
        user = await auth.user_from_token(session, settings, token)
    set_user_id(user.id)
    return user


async def limit_writes(request: Request) -> None:
    """Count an authenticated write against its token's user, and every request made with an
    API key against its key, before the request takes a database connection: a slow rate
    limiter must not hold pooled connections.
    The API router's first dependency; a bad token is left to the route's own 401."""
    header = request.headers.get("authorization")
    if header is None:
        return
    try:
        token = parse_authorization(header)
        if token is None:
            return
        if credentials.is_api_key(token):
            await ratelimits.limit_api_key(request, credentials.key_id_of(token))
            return
        if request.method in SAFE_METHODS:
            return
        claims = auth.claims_of(token, request.app.state.settings)
    except Unauthorized:
        return
    await ratelimits.limit_writes(request, claims.user_id)


async def current_session_id(
    token: Annotated[str, Depends(account_token)], settings: SettingsDep
) -> str:
    """The session (`sid`) the caller's access token belongs to."""
    return auth.claims_of(token, settings).session_id


async def admin_user(user: Annotated[User, Depends(current_user)]) -> User:
    if not roles.is_admin(user):
        raise Forbidden(messages.NOT_ADMIN, field="user")
    return user


async def viewer_for(state: State, reads: Reads, token: str | None) -> Viewer | None:
    """The caller of a read, for both doors (FastAPI's and src/api/asgi/hot_reads.py): an
    access token's viewer, known by its signature and claims, whose session the read's own
    statement checks (docs/performance.md, "One statement per page"); or an API key's owner,
    the key read on these reads and needing the `read` scope (docs/api-keys.md)."""
    return None if token is None else await _viewer(state, reads, token)


async def _viewer(state: State, reads: Reads, token: str) -> Viewer:
    open_session: OpenSession = partial(open_write_session, state)
    return await credentials.viewer_of(reads, open_session, state.settings, token)


async def optional_viewer(
    request: Request, token: Annotated[str | None, Depends(optional_token)], reads: ReadsDep
) -> Viewer | None:
    """The caller of a read, if a credential was sent (viewer_for)."""
    return await viewer_for(request.app.state, reads, token)


async def required_viewer(
    request: Request, token: Annotated[str, Depends(required_token)], reads: ReadsDep
) -> Viewer:
    """As optional_viewer, for reads that need a signed-in user (the feed)."""
    return await _viewer(request.app.state, reads, token)


def require_scope(scope: str) -> Callable[..., Awaitable[User]]:
    """A dependency giving the caller of a route an API key may call if it holds `scope`
    (an access token may call it whatever the scope). The scope is the route's declaration:
    the OpenAPI document (src/api/openapi.py) and any other door read it as
    `dependency.required_scope`."""

    async def scoped_user(
        request: Request,
        token: Annotated[str, Depends(required_token)],
        session: SessionDep,
        settings: SettingsDep,
    ) -> User:
        # A GET's session never commits: a key's last use is then written in one of its own.
        apart = partial(open_write_session, request.app.state)
        touch_apart = apart if request.method in SAFE_METHODS else None
        user = await credentials.user_of(session, settings, token, scope, touch_apart)
        set_user_id(user.id)
        return user

    scoped_user.required_scope = scope  # type: ignore[attr-defined]
    return scoped_user


def log_viewer(viewer: Viewer | None) -> None:
    """After a read confirmed the viewer's session: the access log names the user."""
    if viewer is not None:
        set_user_id(viewer.user_id)


def require_scope_viewer(scope: str) -> Callable[..., Awaitable[Viewer]]:
    """As require_scope, for a write that needs only its caller's id (a Viewer: an access
    token's session is left to the write's own statement, as for reads)."""

    async def scoped_viewer(
        token: Annotated[str, Depends(required_token)],
        session: SessionDep,
        settings: SettingsDep,
    ) -> Viewer:
        return await credentials.writer_of(session, settings, token, scope)

    scoped_viewer.required_scope = scope  # type: ignore[attr-defined]
    return scoped_viewer


CurrentToken = Annotated[str, Depends(required_token)]
# The caller of a route an API key may call with the named scope (src/services/scopes.py).
Reader = Annotated[User, Depends(require_scope(scopes.READ))]
ArticleWriter = Annotated[User, Depends(require_scope(scopes.ARTICLES_WRITE))]
CommentWriter = Annotated[User, Depends(require_scope(scopes.COMMENTS_WRITE))]
WebhookWriter = Annotated[User, Depends(require_scope(scopes.WEBHOOKS_WRITE))]
ArticleWriterViewer = Annotated[Viewer, Depends(require_scope_viewer(scopes.ARTICLES_WRITE))]
CommentWriterViewer = Annotated[Viewer, Depends(require_scope_viewer(scopes.COMMENTS_WRITE))]
SocialWriterViewer = Annotated[Viewer, Depends(require_scope_viewer(scopes.SOCIAL_WRITE))]
CurrentUser = Annotated[User, Depends(current_user)]
UnheldUser = Annotated[User, Depends(current_user_unheld)]
AdminUser = Annotated[User, Depends(admin_user)]
CurrentSessionId = Annotated[str, Depends(current_session_id)]
OptionalViewer = Annotated[Viewer | None, Depends(optional_viewer)]
RequiredViewer = Annotated[Viewer, Depends(required_viewer)]
