"""Where pictures are kept: one interface, two backends (a local folder, or any S3-compatible
store), chosen by MEDIA_STORAGE. Names are content-addressed, so an object never changes and
is served as immutable."""

from __future__ import annotations

import re
from typing import Protocol

from src.core.config import Settings

# Once written, an object's bytes never change under its name: caches may keep it for good.
IMMUTABLE = "public, max-age=31536000, immutable"
# users/<user id>/<sha-256 of the stored bytes>.webp: the owner is in the name, so a cleanup
# can tell whether the name is still that user's picture.
_KEY = re.compile(r"users/([0-9]{1,19})/[0-9a-f]{64}\.webp")


class MediaStorage(Protocol):
    """Stores and removes objects by key; says the public URL each is read from."""

    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    async def delete(self, key: str) -> None:
        """Remove the object; a missing one is no error (deletions are retried)."""
        ...

    def url(self, key: str) -> str: ...


def user_image_key(user_id: int, digest: str, extension: str) -> str:
    return f"users/{user_id}/{digest}.{extension}"


def owner_of(key: str) -> int | None:
    """The user id a well-formed key names; None for anything else (a traversal, a typo)."""
    match = _KEY.fullmatch(key) if len(key) <= 128 else None
    return int(match.group(1)) if match else None


def public_base_url(settings: Settings) -> str:
    """MEDIA_PUBLIC_URL, else the service's own /media/ (local) or the bucket's URL (S3)."""
    if settings.media_public_url:
        return settings.media_public_url.rstrip("/")
    if settings.media_storage == "local":
        return "http://localhost:8000/media"
    if settings.s3_endpoint_url:
        return f"{settings.s3_endpoint_url.rstrip('/')}/{settings.s3_bucket}"
    return f"https://{settings.s3_bucket}.s3.{settings.s3_region}.amazonaws.com"


def storage_from_settings(settings: Settings) -> MediaStorage:
    if settings.media_storage == "s3":
        from src.services.media.s3 import S3Storage  # the S3 client only when configured

        return S3Storage(settings)
    from src.services.media.local import LocalStorage

    return LocalStorage(settings)
