"""Registration, login and the current user."""

from __future__ import annotations

from fastapi import APIRouter, status

from src.api.deps import CurrentToken, CurrentUser, Session, SettingsDep
from src.api.errors import error_responses
from src.api.schemas.users import (
    LoginRequest,
    NewUserRequest,
    UserOut,
    UserResponse,
    UserUpdateRequest,
)
from src.services import users
from src.services.users import UserChanges
from src.services.views import AuthenticatedUser

router = APIRouter(tags=["User and Authentication"])


def _user_response(user: AuthenticatedUser) -> UserResponse:
    return UserResponse(user=UserOut.model_validate(user))


@router.post(
    "/users/login",
    operation_id="Login",
    summary="Existing user login",
    responses=error_responses(401, 422),
)
async def login(payload: LoginRequest, session: Session, settings: SettingsDep) -> UserResponse:
    """Log in with email and password; returns the user with a fresh token."""
    user = await users.login(
        session, settings, email=payload.user.email, password=payload.user.password
    )
    return _user_response(user)


@router.post(
    "/users",
    operation_id="CreateUser",
    summary="Register a new user",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(422),
)
async def register(
    payload: NewUserRequest, session: Session, settings: SettingsDep
) -> UserResponse:
    """Create an account; email and username must be unused (case-insensitively)."""
    new = payload.user
    user = await users.register(
        session, settings, username=new.username, email=str(new.email), password=new.password
    )
    return _user_response(user)


@router.get(
    "/user",
    operation_id="GetCurrentUser",
    summary="Get current user",
    responses=error_responses(401),
)
async def get_current_user(user: CurrentUser, token: CurrentToken) -> UserResponse:
    """The user the token belongs to."""
    return _user_response(users.current(user, token))


@router.put(
    "/user",
    operation_id="UpdateCurrentUser",
    summary="Update current user",
    responses=error_responses(401, 422),
)
async def update_current_user(
    payload: UserUpdateRequest, user: CurrentUser, token: CurrentToken, session: Session
) -> UserResponse:
    """Change email, username, password, bio or image; fields not sent stay as they are."""
    update = payload.user
    changes = UserChanges(
        email=str(update.email) if update.email is not None else None,
        username=update.username,
        password=update.password,
        bio=update.bio,
        image=update.image,
        provided=frozenset(update.model_fields_set),
    )
    return _user_response(await users.update(session, user, changes, token))
