"""A real S3-compatible server on loopback (moto in server mode) for the object-storage tests,
and a public bucket on it, read anonymously as a browser reads a picture's URL."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from moto.server import ThreadedMotoServer
from pydantic import SecretStr

from tests.smtp import free_port

BUCKET = "conduit-media"


@dataclass(frozen=True)
class Bucket:
    """A public-read bucket on the server; `settings` points the service's S3 backend at it."""

    endpoint: str
    name: str = BUCKET

    @property
    def public_url(self) -> str:
        return f"{self.endpoint}/{self.name}"

    @property
    def settings(self) -> dict[str, Any]:
        return {
            "media_storage": "s3",
            "media_public_url": None,  # the bucket's own URL, derived from the endpoint
            "s3_bucket": self.name,
            "s3_endpoint_url": self.endpoint,
            "s3_region": "us-east-1",
            "s3_access_key_id": "test-key",
            "s3_secret_access_key": SecretStr("test-secret"),
        }


def _public_read(name: str) -> str:
    """A bucket policy letting anyone GET its objects (as `mc anonymous set download`)."""
    statement = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{name}/*",
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


@contextmanager
def s3_server() -> Iterator[Bucket]:
    """moto's S3 on a free loopback port with one public-read bucket, for the block."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        bucket = Bucket(f"http://127.0.0.1:{port}")
        httpx.put(f"{bucket.public_url}").raise_for_status()
        httpx.put(
            f"{bucket.public_url}?policy", content=_public_read(bucket.name)
        ).raise_for_status()
        yield bucket
    finally:
        server.stop()
