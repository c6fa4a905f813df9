"""PUT and DELETE /api/user/image: profile pictures checked, re-encoded and stored (a local
folder served at /media/, or an S3-compatible server), and every bad upload refused."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from PIL import Image

from src.core.config import Settings
from src.services import messages
from tests.api import image_helpers as pictures
from tests.apps import app_client
from tests.factories import RegisteredUser, register
from tests.jobs import run_jobs_until_idle
from tests.s3 import Bucket, s3_server

IMAGE = "/api/user/image"


async def upload(
    client: AsyncClient, user: RegisteredUser, data: bytes, content_type: str = "image/jpeg"
) -> httpx.Response:
    """The picture as the `image` part of a multipart form, as a browser's form sends it."""
    files = {"image": ("picture", data, content_type)}
    return await client.put(IMAGE, files=files, headers=user.headers)


async def upload_raw(
    client: AsyncClient, user: RegisteredUser, data: bytes, content_type: str
) -> httpx.Response:
    return await client.put(
        IMAGE, content=data, headers={**user.headers, "Content-Type": content_type}
    )


def stored_files(settings: Settings) -> set[Path]:
    return set(Path(settings.media_root).rglob("*.webp"))


def assert_clean_webp(body: bytes) -> None:
    """A square WebP at most 256 a side, with no EXIF (camera, GPS) left."""
    image = Image.open(io.BytesIO(body))
    assert image.format == "WEBP"
    assert image.size[0] == image.size[1] <= 256
    assert not image.getexif()
    assert "exif" not in image.info and "icc_profile" not in image.info
    assert b"Exif" not in body and b"SecretCam" not in body


# ------------------------------------------------------------------ the local backend


async def test_a_multipart_upload_becomes_the_users_image_served_without_its_metadata(
    client: AsyncClient,
) -> None:
    user = await register(client)

    response = await upload(client, user, pictures.photo())

    assert response.status_code == 200, response.text
    image = response.json()["user"]["image"]
    assert image.startswith("http://conduit.test/media/users/") and image.endswith(".webp")
    me = await client.get("/api/user", headers=user.headers)
    assert me.json()["user"]["image"] == image
    served = await client.get(image)
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/webp"
    assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert_clean_webp(served.content)


async def test_a_served_picture_answers_304_to_its_own_etag(client: AsyncClient) -> None:
    user = await register(client)
    image = (await upload(client, user, pictures.png(), "image/png")).json()["user"]["image"]
    etag = (await client.get(image)).headers["etag"]

    again = await client.get(image, headers={"If-None-Match": etag})

    assert again.status_code == 304


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (pictures.png(), "image/png"),
        (pictures.photo(), "image/jpeg"),
        (pictures.gif(), "image/gif"),
        (pictures.photo(kind="WEBP"), "image/webp"),
    ],
    ids=["png", "jpeg", "gif", "webp"],
)
async def test_a_raw_image_body_is_accepted_in_each_format(
    client: AsyncClient, data: bytes, content_type: str
) -> None:
    user = await register(client)

    response = await upload_raw(client, user, data, content_type)

    assert response.status_code == 200, response.text
    served = await client.get(response.json()["user"]["image"])
    assert_clean_webp(served.content)


async def test_a_part_without_a_declared_image_type_is_judged_by_its_content(
    client: AsyncClient,
) -> None:
    user = await register(client)

    response = await upload(client, user, pictures.png(), "application/octet-stream")

    assert response.status_code == 200, response.text


async def test_replacing_the_picture_deletes_the_old_object(
    app: FastAPI, client: AsyncClient
) -> None:
    user = await register(client)
    first = (await upload(client, user, pictures.photo(color="red"))).json()["user"]["image"]

    second = (await upload(client, user, pictures.photo(color="blue"))).json()["user"]["image"]
    await run_jobs_until_idle(app)

    assert first != second
    assert (await client.get(first)).status_code == 404
    assert (await client.get(second)).status_code == 200


async def test_uploading_the_same_picture_again_keeps_its_object(
    app: FastAPI, client: AsyncClient
) -> None:
    user = await register(client)
    first = (await upload(client, user, pictures.png(), "image/png")).json()["user"]["image"]

    second = (await upload(client, user, pictures.png(), "image/png")).json()["user"]["image"]
    await run_jobs_until_idle(app)

    assert first == second
    assert (await client.get(first)).status_code == 200


async def test_delete_clears_the_image_and_its_object(app: FastAPI, client: AsyncClient) -> None:
    user = await register(client)
    image = (await upload(client, user, pictures.png(), "image/png")).json()["user"]["image"]

    response = await client.delete(IMAGE, headers=user.headers)
    await run_jobs_until_idle(app)

    assert response.status_code == 200, response.text
    assert response.json()["user"]["image"] is None
    assert (await client.get("/api/user", headers=user.headers)).json()["user"]["image"] is None
    assert (await client.get(image)).status_code == 404


async def test_deleting_the_account_deletes_its_picture(app: FastAPI, client: AsyncClient) -> None:
    user = await register(client)
    image = (await upload(client, user, pictures.png(), "image/png")).json()["user"]["image"]

    response = await client.request(
        "DELETE",
        "/api/user",
        json={"user": {"currentPassword": user.password}},
        headers=user.headers,
    )
    await run_jobs_until_idle(app)

    assert response.status_code == 204, response.text
    assert (await client.get(image)).status_code == 404


async def test_a_typed_image_url_replaces_the_uploaded_picture_and_deletes_it(
    app: FastAPI, client: AsyncClient
) -> None:
    user = await register(client)
    image = (await upload(client, user, pictures.png(), "image/png")).json()["user"]["image"]

    kept = await client.put("/api/user", json={"user": {"bio": "hi"}}, headers=user.headers)
    await run_jobs_until_idle(app)
    assert kept.json()["user"]["image"] == image
    assert (await client.get(image)).status_code == 200

    typed = "https://example.com/me.png"
    changed = await client.put("/api/user", json={"user": {"image": typed}}, headers=user.headers)
    await run_jobs_until_idle(app)

    assert changed.json()["user"]["image"] == typed
    assert (await client.get(image)).status_code == 404


async def test_the_upload_needs_a_token(client: AsyncClient) -> None:
    response = await client.put(
        IMAGE, content=pictures.png(), headers={"Content-Type": "image/png"}
    )

    assert response.status_code == 401


# ------------------------------------------------------------------ bad uploads


def _truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


UNSUPPORTED = {"image": [messages.IMAGE_UNSUPPORTED]}
CORRUPT = {"image": [messages.IMAGE_CORRUPT]}
TOO_MANY_PIXELS = {"image": [messages.IMAGE_TOO_MANY_PIXELS.format(maximum=25_000_000)]}
POLYGLOT = {"image": [messages.IMAGE_POLYGLOT]}
GIF_AS_PNG = {
    "image": [messages.IMAGE_TYPE_MISMATCH.format(declared="image/png", actual="image/gif")]
}
BAD_UPLOADS: dict[str, tuple[bytes, str, int, dict[str, list[str]]]] = {
    "text": (b"just some text, not a picture", "image/png", 415, UNSUPPORTED),
    "html": (
        b"<html><script>alert(1)</script></html>",
        "application/octet-stream",
        415,
        UNSUPPORTED,
    ),
    "svg with script": (pictures.SVG_WITH_SCRIPT, "image/svg+xml", 415, UNSUPPORTED),
    "svg declared png": (pictures.SVG_WITH_SCRIPT, "image/png", 415, UNSUPPORTED),
    "gif declared png": (pictures.gif(), "image/png", 415, GIF_AS_PNG),
    "truncated png": (_truncated(pictures.png()), "image/png", 422, CORRUPT),
    "truncated jpeg": (_truncated(pictures.photo()), "image/jpeg", 422, CORRUPT),
    "png bomb": (pictures.png_bomb(), "image/png", 422, TOO_MANY_PIXELS),
    "gif bomb": (pictures.gif_bomb(), "image/gif", 422, TOO_MANY_PIXELS),
    "png with an archive": (pictures.png_with_zip(), "image/png", 422, POLYGLOT),
    "gif with script": (
        pictures.gif(comment=b"<script>alert(1)</script>"),
        "image/gif",
        422,
        POLYGLOT,
    ),
}


@pytest.mark.parametrize("form", [True, False], ids=["multipart", "raw"])
@pytest.mark.parametrize("case", sorted(BAD_UPLOADS))
async def test_a_bad_upload_is_refused_and_nothing_is_stored(
    client: AsyncClient, settings: Settings, case: str, form: bool
) -> None:
    data, content_type, status, errors = BAD_UPLOADS[case]
    user = await register(client)
    before = stored_files(settings)

    if form:
        response = await upload(client, user, data, content_type)
    else:
        response = await upload_raw(client, user, data, content_type)

    if not form and not content_type.startswith("image/"):  # refused by the request's type
        status, errors = 415, {"body": [messages.IMAGE_REQUEST_TYPE]}
    assert response.status_code == status, response.text
    assert response.json() == {"errors": errors}
    assert stored_files(settings) == before
    assert (await client.get("/api/user", headers=user.headers)).json()["user"]["image"] is None


async def test_a_50_mb_upload_is_413_before_it_is_read(
    client: AsyncClient, settings: Settings
) -> None:
    user = await register(client)
    before = stored_files(settings)

    response = await upload_raw(client, user, b"\0" * (50 * 1024 * 1024), "image/png")

    assert response.status_code == 413
    maximum = settings.media_max_upload_bytes
    assert response.json() == {
        "errors": {"image": [messages.IMAGE_TOO_LARGE.format(maximum=maximum)]}
    }
    assert stored_files(settings) == before


async def test_a_streamed_upload_without_a_length_stops_at_the_limit(
    client: AsyncClient, settings: Settings
) -> None:
    user = await register(client)
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(50):
            sent += 1
            yield b"\0" * (1024 * 1024)

    response = await client.put(
        IMAGE, content=chunks(), headers={**user.headers, "Content-Type": "image/png"}
    )

    assert response.status_code == 413
    assert sent <= settings.media_max_upload_bytes // (1024 * 1024) + 2


@pytest.mark.parametrize(
    ("body", "content_type"),
    [(b'{"image": "x"}', "application/json"), (b"hello", "text/plain")],
    ids=["json", "text"],
)
async def test_a_body_neither_multipart_nor_an_image_is_415(
    client: AsyncClient, body: bytes, content_type: str
) -> None:
    user = await register(client)

    response = await upload_raw(client, user, body, content_type)

    assert response.status_code == 415
    assert response.json() == {"errors": {"body": [messages.IMAGE_REQUEST_TYPE]}}


async def test_a_form_without_the_image_field_is_422(client: AsyncClient) -> None:
    user = await register(client)

    response = await client.put(
        IMAGE, files={"picture": ("a.png", pictures.png(), "image/png")}, headers=user.headers
    )

    assert response.status_code == 422
    assert response.json() == {"errors": {"image": [messages.BLANK]}}


async def test_an_empty_body_is_422(client: AsyncClient) -> None:
    user = await register(client)

    response = await upload_raw(client, user, b"", "image/png")

    assert response.status_code == 422
    assert response.json() == {"errors": {"image": [messages.BLANK]}}


# ------------------------------------------------------------------ /media/


@pytest.mark.parametrize(
    "path",
    [
        "/media/",
        "/media/users/",
        "/media/users/1/",
        "/media/../conduit-test.db",
        "/media/%2e%2e/%2e%2e/etc/passwd",
        "/media/users/1/..%2f..%2f..%2fetc%2fpasswd",
        "/media//etc/passwd",
        "/media/users/1/" + "0" * 64 + ".webp",
        "/media/users/1/" + "0" * 64 + ".webp/..",
    ],
)
async def test_media_answers_404_for_anything_but_a_stored_picture(
    client: AsyncClient, settings: Settings, path: str
) -> None:
    (Path(settings.media_root) / "secret.txt").write_text("not for clients")

    response = await client.get(path)

    assert response.status_code == 404
    assert set(response.json()["errors"]) <= {"media", "body"}


async def test_media_serves_no_file_outside_the_picture_names(
    client: AsyncClient, settings: Settings
) -> None:
    (Path(settings.media_root) / "secret.txt").write_text("not for clients")

    response = await client.get("/media/secret.txt")

    assert response.status_code == 404


# ------------------------------------------------------------------ the S3 backend


@pytest.fixture(scope="module")
def bucket() -> Iterator[Bucket]:
    with s3_server() as server:
        yield server


@pytest.fixture
async def s3_app(settings: Settings, bucket: Bucket) -> AsyncIterator[tuple[FastAPI, AsyncClient]]:
    """The service with MEDIA_STORAGE=s3 on the moto server, and its client."""
    built: list[FastAPI] = []
    async with app_client(settings.model_copy(update=bucket.settings), built.append) as client:
        yield built[0], client


async def _public_get(url: str) -> httpx.Response:
    """As a browser reads a picture: anonymously, straight from the store."""
    async with httpx.AsyncClient() as anonymous:
        return await anonymous.get(url)


async def test_the_s3_backend_stores_replaces_and_deletes_pictures(
    s3_app: tuple[FastAPI, AsyncClient], bucket: Bucket
) -> None:
    app, client = s3_app
    user = await register(client)

    first = await upload(client, user, pictures.photo(color="red"))
    assert first.status_code == 200, first.text
    first_url = first.json()["user"]["image"]
    assert first_url.startswith(f"{bucket.public_url}/users/")
    served = await _public_get(first_url)
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/webp"
    assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert_clean_webp(served.content)
    assert (
        await client.get("/media/" + first_url.removeprefix(bucket.public_url + "/"))
    ).status_code == 404

    second_url = (await upload_raw(client, user, pictures.png(), "image/png")).json()["user"][
        "image"
    ]
    await run_jobs_until_idle(app)
    assert (await _public_get(first_url)).status_code == 404
    assert (await _public_get(second_url)).status_code == 200

    removed = await client.delete(IMAGE, headers=user.headers)
    await run_jobs_until_idle(app)
    assert removed.json()["user"]["image"] is None
    assert (await _public_get(second_url)).status_code == 404


async def test_the_s3_backend_stores_nothing_for_a_refused_upload(
    s3_app: tuple[FastAPI, AsyncClient], bucket: Bucket
) -> None:
    _, client = s3_app
    user = await register(client)

    response = await upload(client, user, pictures.png_with_zip(), "image/png")

    assert response.status_code == 422
    listing = await _public_get(f"{bucket.public_url}?list-type=2")
    assert "<Key>" not in listing.text


# ------------------------------------------------------------------ the document


async def test_the_document_declares_the_multipart_and_raw_bodies(
    openapi_document: dict[str, Any],
) -> None:
    operation = openapi_document["paths"]["/api/user/image"]["put"]
    content = operation["requestBody"]["content"]

    assert content["multipart/form-data"]["schema"]["properties"]["image"]["format"] == "binary"
    assert {"image/png", "image/jpeg", "image/gif", "image/webp"} <= set(content)
    assert {"413", "415", "422"} <= set(operation["responses"])
    assert "delete" in openapi_document["paths"]["/api/user/image"]
