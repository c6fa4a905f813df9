"""Profiles and following."""

from __future__ import annotations

from fastapi import APIRouter

from src.api.deps import CurrentUser, Session, ViewerId
from src.api.errors import error_responses
from src.api.schemas.profiles import ProfileOut, ProfileResponse
from src.services import profiles
from src.services.views import ProfileView

router = APIRouter(prefix="/profiles", tags=["Profile"])


def _profile_response(profile: ProfileView) -> ProfileResponse:
    return ProfileResponse(profile=ProfileOut.model_validate(profile))


@router.get(
    "/{username}",
    operation_id="GetProfileByUsername",
    summary="Get a profile",
    responses=error_responses(401, 404),
)
async def get_profile(username: str, session: Session, viewer: ViewerId) -> ProfileResponse:
    """A user's public profile; `following` says whether the caller follows them."""
    return _profile_response(await profiles.get_profile(session, username, viewer))


@router.post(
    "/{username}/follow",
    operation_id="FollowUserByUsername",
    summary="Follow a user",
    responses=error_responses(401, 404, 422),
)
async def follow(username: str, session: Session, user: CurrentUser) -> ProfileResponse:
    """Follow a user (idempotent)."""
    return _profile_response(await profiles.follow(session, username, user))


@router.delete(
    "/{username}/follow",
    operation_id="UnfollowUserByUsername",
    summary="Unfollow a user",
    responses=error_responses(401, 404),
)
async def unfollow(username: str, session: Session, user: CurrentUser) -> ProfileResponse:
    """Stop following a user (idempotent)."""
    return _profile_response(await profiles.unfollow(session, username, user))
