"""Profiles and following."""

from __future__ import annotations

from fastapi import APIRouter, Response

from src.api.deps import OptionalViewer, ReadsDep, SessionDep, SocialWriterViewer, log_viewer
from src.api.error_docs import error_responses
from src.api.render import profile_response
from src.api.schemas.profiles import ProfileResponse
from src.services import messages, profiles
from src.services.errors import Invalid

router = APIRouter(prefix="/profiles", tags=["Profile"])


@router.get(
    "/{username}",
    operation_id="GetProfileByUsername",
    summary="Get a profile",
    response_model=ProfileResponse,
    responses=error_responses(401, 404, about="profile"),
)
async def get_profile(username: str, reads: ReadsDep, viewer: OptionalViewer) -> Response:
    """A user's public profile; `following` says whether the caller follows them."""
    profile = await profiles.get_profile(reads, username, viewer)
    log_viewer(viewer)
    return profile_response(profile)


@router.post(
    "/{username}/follow",
    operation_id="FollowUserByUsername",
    summary="Follow a user",
    response_model=ProfileResponse,
    responses=error_responses(
        401, 404, Invalid(messages.CANNOT_FOLLOW_SELF, field="username"), about="profile"
    ),
)
async def follow(username: str, session: SessionDep, viewer: SocialWriterViewer) -> Response:
    """Follow a user (idempotent)."""
    profile = await profiles.follow(session, username, viewer)
    log_viewer(viewer)
    return profile_response(profile)


@router.delete(
    "/{username}/follow",
    operation_id="UnfollowUserByUsername",
    summary="Unfollow a user",
    response_model=ProfileResponse,
    responses=error_responses(401, 404, about="profile"),
)
async def unfollow(username: str, session: SessionDep, viewer: SocialWriterViewer) -> Response:
    """Stop following a user (idempotent)."""
    profile = await profiles.unfollow(session, username, viewer)
    log_viewer(viewer)
    return profile_response(profile)
