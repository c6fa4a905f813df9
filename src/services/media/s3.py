"""Pictures in any S3-compatible store (AWS S3, MinIO, ...), through obstore. Objects are
written with their content type and an immutable Cache-Control, and read by clients straight
from the bucket's public URL (S3_* and MEDIA_PUBLIC_URL settings; docs/deploy.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import obstore
from obstore.store import S3Store

from src.core.config import Settings
from src.services.media.storage import IMMUTABLE, public_base_url

if TYPE_CHECKING:
    from obstore.store import ClientConfig, S3Config


class S3Storage:
    def __init__(self, settings: Settings) -> None:
        config: S3Config = {"region": settings.s3_region}
        client: ClientConfig = {"timeout": f"{settings.s3_timeout_seconds}s"}
        if settings.s3_endpoint_url:
            config["endpoint"] = settings.s3_endpoint_url
            client["allow_http"] = settings.s3_endpoint_url.startswith("http://")
        if settings.s3_access_key_id and settings.s3_secret_access_key:
            config["access_key_id"] = settings.s3_access_key_id
            config["secret_access_key"] = settings.s3_secret_access_key.get_secret_value()
        # Without keys obstore finds credentials as AWS SDKs do (environment, instance role).
        self._store = S3Store(settings.s3_bucket, config=config, client_options=client)
        self._base_url = public_base_url(settings)

    def url(self, key: str) -> str:
        return f"{self._base_url}/{key}"

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        attributes = {"Content-Type": content_type, "Cache-Control": IMMUTABLE}
        await obstore.put_async(self._store, key, data, attributes=attributes)

    async def delete(self, key: str) -> None:
        await obstore.delete_async(self._store, key)
