"""Administration: deactivate and reactivate accounts. (Admins moderate articles and comments
through the ordinary DELETE routes.)"""

from __future__ import annotations

from fastapi import APIRouter

from src.api.deps import AdminUser, SessionDep
from src.api.error_docs import error_responses
from src.api.schemas.admin import AdminUserOut, AdminUserResponse
from src.services import admin, messages
from src.services.admin import AccountView
from src.services.errors import Conflict, Forbidden, Invalid

router = APIRouter(prefix="/admin", tags=["Admin"])


def _response(account: AccountView) -> AdminUserResponse:
    return AdminUserResponse(user=AdminUserOut.model_validate(account, from_attributes=True))


@router.post(
    "/users/{username}/deactivate",
    operation_id="AdminDeactivateUser",
    summary="Deactivate a user",
    responses=error_responses(
        401,
        Forbidden(messages.NOT_ADMIN, field="user"),
        404,
        Conflict(messages.LAST_ACTIVE_ADMIN, field="user"),
        Invalid(messages.CANNOT_DEACTIVATE_SELF, field="user"),
        about="user",
    ),
)
async def deactivate_user(
    username: str, session: SessionDep, caller: AdminUser
) -> AdminUserResponse:
    """Admins only: the user can no longer log in, and every token they hold stops working.
    Refused for the caller's own account (422) and for the last active admin (409)."""
    return _response(await admin.set_active(session, caller, username, active=False))


@router.post(
    "/users/{username}/reactivate",
    operation_id="AdminReactivateUser",
    summary="Reactivate a user",
    responses=error_responses(401, Forbidden(messages.NOT_ADMIN, field="user"), 404, about="user"),
)
async def reactivate_user(
    username: str, session: SessionDep, caller: AdminUser
) -> AdminUserResponse:
    """Admins only: the user may log in again (old sessions stay ended)."""
    return _response(await admin.set_active(session, caller, username, active=True))
