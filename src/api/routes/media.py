"""GET /media/{key}: the stored pictures of the local backend (MEDIA_STORAGE=local), served by
the service itself. Only well-formed content-addressed names are looked up: no listing, no
traversal, and each answer is cacheable for good."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi import APIRouter, Request, Response

from src.api.errors import error_response
from src.services import messages
from src.services.media.images import CONTENT_TYPE
from src.services.media.local import LocalStorage
from src.services.media.storage import IMMUTABLE

router = APIRouter(include_in_schema=False)


@router.api_route("/media/{key:path}", methods=["GET", "HEAD"])
async def get_media(key: str, request: Request) -> Response:
    """A stored picture, or 404 in the envelope."""
    storage: LocalStorage = request.app.state.media_storage
    path = storage.path_of(key)
    data = None if path is None else await asyncio.to_thread(_read, path)
    if data is None:
        return error_response(404, {"media": [messages.NOT_FOUND]})
    etag = f'"{Path(key).stem}"'  # the name is the content's hash
    headers = {"Cache-Control": IMMUTABLE, "ETag": etag}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=CONTENT_TYPE, headers=headers)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
