"""/docs and /redoc come with everything they need from this server, and can be turned off."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from httpx import AsyncClient

from src.api.routes.docs import DOCS_CSP
from src.core.config import Settings
from tests.apps import app_client

ASSET = re.compile(r'(?:src|href)="([^"]+)"')
PAGES = ("/docs", "/redoc")


@pytest.fixture
async def docs_off(settings: Settings) -> AsyncIterator[AsyncClient]:
    async with app_client(settings.model_copy(update={"docs_enabled": False})) as http:
        yield http


@pytest.mark.parametrize("page", PAGES)
async def test_the_page_loads_nothing_from_another_host(client: AsyncClient, page: str) -> None:
    response = await client.get(page)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assets = ASSET.findall(response.text)
    assert assets, response.text
    assert all(url.startswith("/docs/assets/") for url in assets), assets
    assert "<script>" not in response.text  # no inline script: works under script-src 'self'
    assert 'spec-url="/openapi.json"' in response.text or "/openapi.json" in response.text


@pytest.mark.parametrize("page", PAGES)
async def test_every_asset_the_page_names_is_served(client: AsyncClient, page: str) -> None:
    html = (await client.get(page)).text

    for url in ASSET.findall(html):
        response = await client.get(url)
        assert response.status_code == 200, url
        assert response.content, url
        if url.endswith(".js"):
            assert "javascript" in response.headers["content-type"], url
        if url.endswith(".css"):
            assert response.headers["content-type"].startswith("text/css"), url


@pytest.mark.parametrize("page", PAGES)
async def test_the_pages_carry_a_policy_that_allows_only_this_server(
    client: AsyncClient, page: str
) -> None:
    response = await client.get(page)

    policy = response.headers["content-security-policy"]
    assert policy == DOCS_CSP
    assert "script-src 'self';" in policy
    assert "http" not in policy


async def test_an_unknown_asset_is_404(client: AsyncClient) -> None:
    response = await client.get("/docs/assets/nothing-here.js")

    assert response.status_code == 404
    assert response.json() == {"errors": {"body": ["not found"]}}


@pytest.mark.parametrize(
    "path", ["/docs", "/redoc", "/openapi.json", "/docs/assets/swagger-ui-bundle.js"]
)
async def test_docs_enabled_false_removes_the_pages_and_the_document(
    docs_off: AsyncClient, path: str
) -> None:
    response = await docs_off.get(path)

    assert response.status_code == 404


async def test_the_api_still_works_with_docs_off(docs_off: AsyncClient) -> None:
    response = await docs_off.get("/api/tags")

    assert response.status_code == 200
