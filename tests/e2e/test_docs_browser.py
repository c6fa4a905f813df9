"""The docs pages in a real browser, with every request not to our server blocked.

Debian's chromium (`apt-get install chromium`) driven by Playwright from PyPI; no browser is
downloaded. Skipped, saying why, only where no chromium is installed.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, Route, async_playwright, expect

from tests.factories import register

pytestmark = pytest.mark.e2e

CHROMIUM = next(
    (
        Path(p)
        for p in ("/usr/bin/chromium", shutil.which("chromium") or "")
        if p and Path(p).exists()
    ),
    None,
)
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 15_000
HTTP_METHODS = {"get", "put", "post", "delete", "patch"}
REDOC_CDN_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@dataclass
class Visit:
    """A page on the live server, and what it tried to reach elsewhere or complained about."""

    page: Page
    blocked: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)


async def operation_count(live_server: str) -> int:
    """How many operations the served document has, webhooks included: each must render."""
    async with httpx.AsyncClient(base_url=live_server) as http:
        document = (await http.get("/openapi.json")).json()
    paths = document["paths"]
    count = sum(1 for item in paths.values() for key in item if key in HTTP_METHODS)
    assert count >= 19  # at least the official RealWorld operations
    webhooks = document.get("webhooks", {})
    return count + sum(1 for item in webhooks.values() for key in item if key in HTTP_METHODS)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium); .ci/run installs it")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=LAUNCH_ARGS, headless=True
        )
        yield launched
        await launched.close()


@pytest.fixture
async def visit(browser: Browser, live_server: str) -> AsyncIterator[Visit]:
    context = await browser.new_context(service_workers="block")
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    seen = Visit(page)
    ours = urlsplit(live_server).netloc

    async def only_our_server(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).netloc == ours or url.startswith(("data:", "blob:")):
            await route.continue_()
        else:
            seen.blocked.append(url)
            await route.abort()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            seen.console_errors.append(message.text)

    await context.route("**/*", only_our_server)
    page.on("console", on_console)
    yield seen
    await context.close()


async def test_swagger_ui_renders_offline_and_authorize_then_try_it_out_works(
    visit: Visit, live_server: str
) -> None:
    async with httpx.AsyncClient(base_url=live_server) as http:
        reader = await register(http, "docsreader", "docs@example.com", "password123")
    token = reader.token
    page = visit.page

    await page.goto(f"{live_server}/docs")
    # Every operation of the document renders, grouped by tag.
    await expect(page.locator(".opblock")).to_have_count(await operation_count(live_server))
    await expect(page.locator("#operations-Articles-GetArticlesFeed")).to_be_visible()

    await page.get_by_role("button", name="Authorize").first.click()
    dialog = page.locator(".dialog-ux")
    # The spec's scheme (the API keys' has its own form in the same dialog).
    scheme = dialog.locator(".auth-container").filter(has_text=re.compile(r"\(apiKey\)"))
    await scheme.locator("#api_key_value").fill(f"Token {token}")
    await scheme.locator("button.modal-btn.authorize").click()
    await expect(scheme.locator("button", has_text="Logout")).to_be_visible()  # authorized
    await dialog.locator("button.btn-done").first.click()

    operation = page.locator("#operations-User_and_Authentication-GetCurrentUser")
    await operation.locator(".opblock-summary").click()
    await operation.get_by_role("button", name="Try it out").click()
    await operation.get_by_role("button", name="Execute").click()

    live = operation.locator(".live-responses-table")
    await expect(live.locator("tbody .response-col_status").first).to_have_text("200")
    await expect(live.locator("tbody .response-col_description")).to_contain_text('"docsreader"')
    # The request really carried the token in the spec's scheme.
    await expect(operation.locator(".curl-command")).to_contain_text(f"Token {token}")
    assert visit.blocked == []
    assert visit.console_errors == []


async def test_redoc_renders_offline(visit: Visit, live_server: str) -> None:
    page = visit.page

    await page.goto(f"{live_server}/redoc")

    await expect(page.locator("h1").first).to_contain_text("Conduit API")
    await expect(
        page.get_by_text("Get recent articles from users you follow").first
    ).to_be_attached()
    await expect(page.locator("[data-section-id^='operation/']")).to_have_count(
        await operation_count(live_server)
    )
    assert visit.blocked == []
    # ReDoc hard-codes its footer logo's URL on its CDN; our page policy refuses it before any
    # request leaves (the <img> hides itself on error). Anything else logged is a failure.
    assert [e for e in visit.console_errors if REDOC_CDN_LOGO not in e] == []
