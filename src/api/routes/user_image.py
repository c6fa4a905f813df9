"""The current user's picture: upload (multipart or a raw image body) and removal."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from src.api.deps import CurrentToken, OpenSessionDep, SettingsDep, UnheldUser
from src.api.error_docs import error_responses
from src.api.schemas.users import UserOut, UserResponse
from src.services import messages, users
from src.services.errors import Invalid, UnsupportedMediaType
from src.services.media import user_images
from src.services.media.images import FIELD

router = APIRouter(tags=["User and Authentication"])

_BINARY = {"type": "string", "format": "binary"}
# The body is read by the route itself (multipart or raw), so it is declared here by hand.
UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "title": "UserImageUpload",
                    "type": "object",
                    "properties": {FIELD: {**_BINARY, "description": "PNG, JPEG, GIF or WebP"}},
                    "required": [FIELD],
                },
            },
            **{
                media: {"schema": _BINARY}
                for media in ("image/png", "image/jpeg", "image/gif", "image/webp")
            },
        },
    }
}


def _response(user: Any, token: str) -> UserResponse:
    return UserResponse(user=UserOut.model_validate(users.current(user, token)))


async def _picture(request: Request) -> tuple[bytes, str | None]:
    """The picture's bytes and its declared type: the `image` part of a multipart form, or the
    whole body (already bounded by the request guard)."""
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/"):
        return await request.body(), content_type
    try:
        form = await request.form(max_files=1, max_fields=8, max_part_size=1024)
    except HTTPException:  # a malformed form, or more parts than a picture needs
        raise Invalid(messages.IMAGE_CORRUPT, field="body") from None
    try:
        part = form.get(FIELD)
        if not isinstance(part, UploadFile):
            raise Invalid(messages.BLANK, field=FIELD)
        return await part.read(), part.content_type
    finally:
        await form.close()


@router.put(
    "/user/image",
    operation_id="UploadCurrentUserImage",
    summary="Upload the current user's picture",
    openapi_extra=UPLOAD_BODY,
    responses=error_responses(
        401,
        413,
        UnsupportedMediaType(messages.IMAGE_UNSUPPORTED, field=FIELD),
        422,
    ),
)
async def upload_current_user_image(
    request: Request,
    user: UnheldUser,  # no pooled connection is held while the picture is decoded
    token: CurrentToken,
    open_session: OpenSessionDep,
    settings: SettingsDep,
) -> UserResponse:
    """Send a PNG, JPEG, GIF or WebP picture as the `image` field of a multipart form, or as
    the raw body with its `image/*` type, at most `MEDIA_MAX_UPLOAD_BYTES` (413 beyond). It is
    checked by its content (415: not such a picture, or not the type it was declared as; 422:
    truncated, more than `MEDIA_MAX_IMAGE_PIXELS` pixels, or carrying markup or another file),
    re-encoded as a square WebP without metadata, and `image` becomes its URL; the previous
    uploaded picture is deleted."""
    data, declared = await _picture(request)
    updated = await user_images.set_image(
        open_session, request.app.state.media_storage, settings, user.id, data, declared
    )
    return _response(updated, token)


@router.delete(
    "/user/image",
    operation_id="DeleteCurrentUserImage",
    summary="Remove the current user's picture",
    responses=error_responses(401),
)
async def delete_current_user_image(
    user: UnheldUser, token: CurrentToken, open_session: OpenSessionDep
) -> UserResponse:
    """`image` becomes null; an uploaded picture is deleted."""
    return _response(await user_images.remove_image(open_session, user.id), token)
