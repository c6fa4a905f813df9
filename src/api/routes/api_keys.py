"""API keys: the owner creates, lists and revokes them; an admin lists and revokes anyone's.
No route here takes a key (docs/api-keys.md)."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Request, Response, status

from src.api.deps import AdminUser, CurrentUser, SessionDep
from src.api.error_docs import error_responses
from src.api.http_headers import LOCATION, location
from src.api.schemas.api_keys import (
    ApiKeyListResponse,
    ApiKeyOut,
    CreatedApiKeyOut,
    CreatedApiKeyResponse,
    NewApiKeyRequest,
)
from src.services import api_keys, messages, scopes
from src.services.api_keys import KeyView
from src.services.errors import Conflict, Forbidden

router = APIRouter(prefix="/user/keys", tags=["API keys"])
admin_router = APIRouter(prefix="/admin/users/{username}/keys", tags=["Admin"])

NO_KEYS_HERE = scopes.refuse_key()


def _list(keys: list[KeyView]) -> ApiKeyListResponse:
    return ApiKeyListResponse(keys=[ApiKeyOut.model_validate(key) for key in keys])


@router.post(
    "",
    operation_id="CreateApiKey",
    summary="Create an API key",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(
        401,
        NO_KEYS_HERE,
        Conflict(messages.API_KEY_LIMIT.format(maximum=api_keys.MAX_KEYS_PER_USER), field="key"),
        413,
    ),
)
async def create_key(
    payload: NewApiKeyRequest,
    request: Request,
    response: Response,
    session: SessionDep,
    user: CurrentUser,
) -> CreatedApiKeyResponse:
    """A key with these scopes, for scripts and integrations: send it as
    `Authorization: Bearer cdt_...`. `secret` is in this answer only; the account's address
    is told a key was created."""
    new = payload.key
    created = await api_keys.create(
        session,
        user,
        name=new.name,
        requested_scopes=new.scopes,
        expires_in_days=new.expires_in_days,
    )
    response.headers[LOCATION] = location(request, list_keys)  # no key has a page of its own
    out = CreatedApiKeyOut.model_validate({**asdict(created.key), "secret": created.secret})
    return CreatedApiKeyResponse(key=out)


@router.get(
    "",
    operation_id="ListApiKeys",
    summary="List the current user's API keys",
    responses=error_responses(401, NO_KEYS_HERE),
)
async def list_keys(session: SessionDep, user: CurrentUser) -> ApiKeyListResponse:
    """The caller's keys that are not revoked (expired ones too), newest first; never their
    secrets."""
    return _list(await api_keys.list_for(session, user.id))


@router.delete(
    "/{key_id}",
    operation_id="RevokeApiKey",
    summary="Revoke an API key",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(401, NO_KEYS_HERE, 404, about="key"),
)
async def revoke_key(key_id: str, session: SessionDep, user: CurrentUser) -> None:
    """The key stops working at once, on every server."""
    await api_keys.revoke(session, user.id, key_id)


ADMIN_ONLY = Forbidden(messages.NOT_ADMIN, field="user")


@admin_router.get(
    "",
    operation_id="AdminListApiKeys",
    summary="List a user's API keys",
    responses=error_responses(401, ADMIN_ONLY, 404, about="user"),
)
async def admin_list_keys(
    username: str, session: SessionDep, _caller: AdminUser
) -> ApiKeyListResponse:
    """Admins only: the user's keys that are not revoked, never their secrets."""
    user_id = await api_keys.user_id_of(session, username)
    return _list(await api_keys.list_for(session, user_id))


@admin_router.delete(
    "/{key_id}",
    operation_id="AdminRevokeApiKey",
    summary="Revoke a user's API key",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(401, ADMIN_ONLY, 404, about="key"),
)
async def admin_revoke_key(
    username: str, key_id: str, session: SessionDep, _caller: AdminUser
) -> None:
    """Admins only: the key stops working at once, on every server."""
    user_id = await api_keys.user_id_of(session, username)
    await api_keys.revoke(session, user_id, key_id)
