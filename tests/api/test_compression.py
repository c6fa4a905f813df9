"""Compression: bodies above COMPRESSION_MIN_BYTES in the encoding Accept-Encoding allows
(zstd, br, gzip; q=0 refuses one), with Vary and a Content-Length of the bytes sent; tiny
bodies, empty answers and refusals of every encoding go as they are."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from typing import Any

import brotli
import pytest
import zstandard
from httpx import AsyncClient, Response

from tests.factories import create_article, register

DECODERS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.decompress,
    "br": brotli.decompress,
    "zstd": lambda raw: zstandard.ZstdDecompressor().decompressobj().decompress(raw),
}


async def fetch(
    client: AsyncClient, path: str, accept: str, **kwargs: Any
) -> tuple[Response, bytes]:
    """The response and the bytes on the wire (before any decoding)."""
    async with client.stream("GET", path, headers={"Accept-Encoding": accept}, **kwargs) as r:
        raw = b"".join([chunk async for chunk in r.aiter_raw()])
    return r, raw


@pytest.fixture
async def large_list(client: AsyncClient) -> bytes:
    """An article list well above the threshold, as sent uncompressed."""
    author = await register(client)
    for _ in range(5):
        await create_article(client, author, description="Ever wonder how? " * 30)
    _, raw = await fetch(client, "/api/articles", "identity")
    assert len(raw) > 4 * 1024
    return raw


@pytest.mark.parametrize(
    ("accept", "encoding"),
    [
        ("gzip", "gzip"),
        ("br", "br"),
        ("zstd", "zstd"),
        ("gzip;q=0, br;q=1", "br"),
        ("gzip, br;q=0", "gzip"),
        ("gzip, br, zstd;q=0", "br"),
        ("*", "zstd"),
    ],
)
async def test_a_large_list_is_compressed_as_the_client_accepts(
    client: AsyncClient, large_list: bytes, accept: str, encoding: str
) -> None:
    response, raw = await fetch(client, "/api/articles", accept)

    assert response.status_code == 200
    assert response.headers["content-encoding"] == encoding
    assert "Accept-Encoding" in response.headers["vary"]
    assert int(response.headers["content-length"]) == len(raw) < len(large_list) // 2
    assert DECODERS[encoding](raw) == large_list


@pytest.mark.parametrize("accept", ["identity", "gzip;q=0, br;q=0, zstd;q=0", "deflate", ""])
async def test_a_large_list_goes_as_it_is_when_no_encoding_is_accepted(
    client: AsyncClient, large_list: bytes, accept: str
) -> None:
    response, raw = await fetch(client, "/api/articles", accept)

    assert "content-encoding" not in response.headers
    assert raw == large_list
    assert int(response.headers["content-length"]) == len(raw)


async def test_a_tiny_body_is_never_compressed(client: AsyncClient) -> None:
    response, raw = await fetch(client, "/api/tags", "gzip, br, zstd")

    assert response.status_code == 200
    assert "content-encoding" not in response.headers
    assert raw == b'{"tags":[]}'


async def test_an_empty_answer_is_never_compressed(client: AsyncClient) -> None:
    jake = await register(client)

    response = await client.post(
        "/api/users/logout", headers={**jake.headers, "Accept-Encoding": "gzip"}
    )

    assert response.status_code == 204
    assert "content-encoding" not in response.headers


async def test_fastapis_own_answers_are_compressed_too(client: AsyncClient) -> None:
    """The hot reads answer the list; FastAPI answers the rest (here, the document)."""
    response, raw = await fetch(client, "/openapi.json", "br")

    assert response.headers["content-encoding"] == "br"
    assert int(response.headers["content-length"]) == len(raw)
    assert brotli.decompress(raw).startswith(b'{"openapi"')
