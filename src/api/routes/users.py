"""Registration, login and the current user."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request, Response, status

from src.api import ratelimits
from src.api.deps import (
    CurrentSessionId,
    CurrentToken,
    CurrentUser,
    OpenReadsDep,
    OpenSessionDep,
    Reader,
    SessionDep,
    SettingsDep,
    UnheldUser,
)
from src.api.error_docs import error_responses
from src.api.etags import IfMatchHeader, if_match
from src.api.http_headers import LOCATION, location
from src.api.render import JSON
from src.api.routes import profiles
from src.api.schemas.account import (
    NO_PROOF_SENT,
    AccountDeletionRequest,
    AccountExportOut,
    AccountExportResponse,
)
from src.api.schemas.sessions import (
    RefreshRequest,
    SessionUserOut,
    SessionUserResponse,
)
from src.api.schemas.users import (
    LoginRequest,
    NewUserRequest,
    UserOut,
    UserResponse,
    UserUpdateRequest,
)
from src.models import User
from src.services import messages, sessions, user_deletion, user_export, users
from src.services.errors import Conflict, Forbidden, Unauthorized
from src.services.preconditions import Precondition
from src.services.read_models import AuthenticatedUser
from src.services.users import UserChanges

router = APIRouter(tags=["User and Authentication"])


def _user_response(user: AuthenticatedUser) -> UserResponse:
    return UserResponse(user=UserOut.model_validate(user))


def _session_response(user: AuthenticatedUser) -> SessionUserResponse:
    """Login, registration and refresh: the user with the new access and refresh tokens."""
    return SessionUserResponse(user=SessionUserOut.model_validate(user))


@router.post(
    "/users/login",
    operation_id="Login",
    summary="Existing user login",
    responses=error_responses(
        Unauthorized(messages.INVALID_CREDENTIALS, field="credentials"), 413, 422
    ),
)
async def login(
    payload: LoginRequest,
    request: Request,
    open_session: OpenSessionDep,
    open_reads: OpenReadsDep,
    settings: SettingsDep,
) -> SessionUserResponse:
    """Log in with email and password; returns the user with a fresh access token (`token`)
    and refresh token (`refreshToken`)."""
    await ratelimits.limit_login(request, payload.user.email)
    user = await users.login(
        open_session, open_reads, settings, email=payload.user.email, password=payload.user.password
    )
    return _session_response(user)


@router.post(
    "/users",
    operation_id="CreateUser",
    summary="Register a new user",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(Conflict(messages.TAKEN, field="username"), 413, 422),
)
async def register(
    payload: NewUserRequest,
    request: Request,
    response: Response,
    open_session: OpenSessionDep,
    settings: SettingsDep,
) -> SessionUserResponse:
    """Create an account; email and username must be unused (case-insensitively; a taken one
    is a 409). Returns the user with an access token (`token`) and a refresh token
    (`refreshToken`); `Location` is the new user's profile."""
    new = payload.user
    await ratelimits.limit_registration(request, str(new.email))
    user = await users.register(
        open_session,
        settings,
        username=new.username,
        email=str(new.email),
        password=new.password,
    )
    response.headers[LOCATION] = location(request, profiles.get_profile, username=user.username)
    return _session_response(user)


@router.post(
    "/users/refresh",
    operation_id="RefreshSession",
    summary="Trade a refresh token for new tokens",
    responses=error_responses(
        Unauthorized(messages.REFRESH_TOKEN_INVALID, field="refreshToken"), 413, 422
    ),
)
async def refresh(
    payload: RefreshRequest,
    request: Request,
    open_session: OpenSessionDep,
    open_reads: OpenReadsDep,
    settings: SettingsDep,
) -> SessionUserResponse:
    """Single use: returns a new access token and a new refresh token. Presenting a refresh
    token that was already used ends its whole session (theft detection) and answers 401,
    except a repeat within `REFRESH_REUSE_GRACE_SECONDS` of its use (a retry after a lost
    reply), which gets the same new refresh token again."""
    token = payload.user.refresh_token
    await ratelimits.limit_refresh(request)
    session_id = await sessions.session_of(open_reads, token)
    if session_id is not None:  # an unknown token is refused below, counted per IP only
        await ratelimits.limit_refresh_session(request, session_id)
    user, issued = await sessions.refresh(open_session, settings, token)
    return _session_response(users.authenticated(user, issued))


@router.post(
    "/users/logout",
    operation_id="Logout",
    summary="End the current session",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(401),
)
async def logout(_caller: CurrentUser, session_id: CurrentSessionId, session: SessionDep) -> None:
    """The access token used here and its refresh tokens stop working at once, everywhere."""
    await sessions.end(session, session_id)


def _user_bytes(user: AuthenticatedUser) -> bytes:
    """`GET /api/user`'s body, which its ETag hashes and an If-Match is checked against."""
    return orjson.dumps(_user_response(user).model_dump(mode="json", by_alias=True))


def _user_precondition(header: str | None, token: str) -> Precondition[User] | None:
    return if_match(header, lambda current: _user_bytes(users.current(current, token)), "user")


@router.get(
    "/user",
    operation_id="GetCurrentUser",
    summary="Get current user",
    response_model=UserResponse,
    responses=error_responses(401),
)
async def get_current_user(user: Reader, token: CurrentToken) -> Response:
    """The user the token belongs to."""
    return Response(_user_bytes(users.current(user, token)), media_type=JSON)


@router.put(
    "/user",
    operation_id="UpdateCurrentUser",
    summary="Update current user",
    responses=error_responses(
        401,
        Forbidden(messages.CURRENT_PASSWORD_REQUIRED, field="currentPassword"),
        412,
        413,
        422,
        about="user",
    ),
)
async def update_current_user(
    payload: UserUpdateRequest,
    request: Request,
    user: UnheldUser,
    token: CurrentToken,
    session_id: CurrentSessionId,
    open_session: OpenSessionDep,
    open_reads: OpenReadsDep,
    settings: SettingsDep,
    if_match_header: IfMatchHeader = None,
) -> UserResponse:
    """Change email, username, password, bio or image; fields not sent stay as they are.
    A new email or password needs `currentPassword` too (403 without it, or when wrong),
    unless this session logged in or registered within `REAUTH_WINDOW_SECONDS`. A new
    password ends every other session of the user (this one stays). With `If-Match`, only if
    the user is still as `GET /api/user` last showed it (412 if not)."""
    update = payload.user
    if update.current_password is not None:  # a password guess: limited as a login is
        await ratelimits.limit_login(request, user.email)
    changes = UserChanges(
        email=str(update.email) if update.email is not None else None,
        username=update.username,
        password=update.password,
        bio=update.bio,
        image=update.image,
        provided=frozenset(update.model_fields_set),
        current_password=update.current_password,
    )
    return _user_response(
        await users.update(
            open_session,
            open_reads,
            settings,
            user,
            changes,
            token,
            session_id=session_id,
            precondition=_user_precondition(if_match_header, token),
        )
    )


@router.delete(
    "/user",
    operation_id="DeleteCurrentUser",
    summary="Delete current user",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(
        401,
        Forbidden(messages.CURRENT_PASSWORD_REQUIRED_TO_DELETE, field="currentPassword"),
        Conflict(messages.LAST_ACTIVE_ADMIN_DELETED, field="user"),
        412,
        413,
        422,
        about="user",
    ),
)
async def delete_current_user(
    request: Request,
    user: UnheldUser,
    token: CurrentToken,
    session_id: CurrentSessionId,
    open_session: OpenSessionDep,
    open_reads: OpenReadsDep,
    settings: SettingsDep,
    if_match_header: IfMatchHeader = None,
    payload: AccountDeletionRequest = NO_PROOF_SENT,
) -> None:
    """Delete the account for good: its articles, comments, favorites, follows and sessions
    go with it, and every token it holds stops working at once. Needs `currentPassword`
    (403 without it, or when wrong) unless this session logged in or registered within
    `REAUTH_WINDOW_SECONDS`. The last active administrator cannot delete themselves (409).
    With `If-Match`, only if the user is still as `GET /api/user` last showed it (412)."""
    current_password = payload.user.current_password
    if current_password is not None:  # a password guess: limited as a login is
        await ratelimits.limit_login(request, user.email)
    await user_deletion.delete_account(
        open_session,
        open_reads,
        settings,
        user,
        session_id,
        current_password,
        _user_precondition(if_match_header, token),
    )


@router.get(
    "/user/export",
    operation_id="ExportCurrentUser",
    summary="Export everything held about the current user",
    responses=error_responses(401),
)
async def export_current_user(
    user: CurrentUser, session_id: CurrentSessionId, session: SessionDep
) -> AccountExportResponse:
    """Data portability: the profile, articles, comments, favorites, follows (both ways) and
    sessions (without their secrets) of the caller, as one JSON document."""
    account = await user_export.export_account(session, user.id, session_id)
    return AccountExportResponse(
        account=AccountExportOut.model_validate(account, from_attributes=True)
    )
