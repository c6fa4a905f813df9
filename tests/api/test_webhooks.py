"""Webhooks through the API: subscriptions, signed deliveries to a real receiver on loopback
(the receiver of docs/webhooks.md, run as written), retries, a worker lost mid-delivery,
address checks, the deliveries' log, redelivery, and endpoints disabled after failing.

The worker's clock is the test's: a retry or the failure window runs out when the test moves it.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from pydantic import ValidationError
from sqlalchemy import func, select

from src.core.config import Settings
from src.main import create_app, release_resources
from src.models import Job, WebhookAttempt
from src.models.base import utc_now
from src.services import messages
from src.services.jobs import Worker, queue, run_until_idle
from src.services.webhooks import transport
from tests.cli import Conduit
from tests.factories import RegisteredUser, register

DOCS = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"
LOOPBACK = {"webhooks_allowed_networks": ["127.0.0.0/8"], "webhooks_allow_http": True}


def _documented_receiver() -> dict[str, Any]:
    """The receiver of docs/webhooks.md, "Verifying a delivery", executed as a module."""
    section = DOCS.read_text().split("## Verifying a delivery", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    namespace: dict[str, Any] = {"__name__": "documented_receiver"}
    exec(compile(code.group(1), str(DOCS), "exec"), namespace)  # noqa: S102 - our own docs
    return namespace


class Receiver:
    """The documented receiver on 127.0.0.1, with scripted answers before it verifies."""

    def __init__(self) -> None:
        self.documented = _documented_receiver()
        self.events: list[dict[str, Any]] = []  # verified ones only
        self.ids: list[str] = []  # every request's webhook-id, verified or not
        self.script: list[tuple[int, dict[str, str]]] = []
        self.block_first = threading.Event()  # set: the next request waits for `release`
        self.hang = threading.Event()  # set: every request waits for `release`, unanswered
        self.entered = threading.Event()
        self.release = threading.Event()
        self.received = threading.Event()  # a verified event was handled

        def handle(event: dict[str, Any]) -> None:
            self.events.append(event)
            self.received.set()

        self.documented["handle"] = handle
        outer = self

        class Scripted(self.documented["Receiver"]):  # type: ignore[name-defined,misc]
            def do_POST(self) -> None:
                outer.ids.append(self.headers.get("webhook-id", ""))
                if outer.hang.is_set():
                    outer.entered.set()
                    outer.release.wait(30)
                    return
                if outer.block_first.is_set():
                    outer.block_first.clear()
                    outer.entered.set()
                    outer.release.wait(30)
                    return
                if outer.script:
                    status, headers = outer.script.pop(0)
                    self.rfile.read(int(self.headers.get("Content-Length") or 0))
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                super().do_POST()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def use_secret(self, secret: str) -> None:
        self.documented["SECRET"] = secret

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


class Clock:
    def __init__(self) -> None:
        self.skipped = timedelta()

    def __call__(self) -> datetime:
        return utc_now() + self.skipped

    def advance(self, seconds: float) -> None:
        self.skipped += timedelta(seconds=seconds)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.stop()


async def _app(settings: Settings, **changes: Any) -> FastAPI:
    return create_app(settings.model_copy(update={**LOOPBACK, **changes}))


@pytest.fixture
async def hooks_app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = await _app(settings)
    yield application
    await release_resources(application)


@pytest.fixture
async def hooks(hooks_app: FastAPI) -> AsyncIterator[AsyncClient]:
    transport_ = ASGITransport(app=hooks_app)
    async with AsyncClient(transport=transport_, base_url="http://conduit.test") as http:
        yield http


async def run_jobs(app: FastAPI, clock: Clock | None = None) -> int:
    return await run_until_idle(app.state.sessionmaker, app.state.settings, clock=clock or Clock())


async def subscribe(
    client: AsyncClient, user: RegisteredUser, url: str, events: list[str], status: int = 201
) -> dict[str, Any]:
    response = await client.post(
        "/api/user/webhooks", json={"webhook": {"url": url, "events": events}}, headers=user.headers
    )
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


async def deliveries(client: AsyncClient, user: RegisteredUser, hook_id: int) -> list[Any]:
    response = await client.get(f"/api/user/webhooks/{hook_id}/deliveries", headers=user.headers)
    assert response.status_code == 200, response.text
    found: list[Any] = response.json()["deliveries"]
    return found


async def publish(client: AsyncClient, author: RegisteredUser, title: str = "Hello") -> str:
    article = {"title": title, "description": "d", "body": "b", "tagList": ["x"]}
    response = await client.post("/api/articles", json={"article": article}, headers=author.headers)
    assert response.status_code == 201, response.text
    slug: str = response.json()["article"]["slug"]
    return slug


async def test_subscribers_receive_signed_events_that_concern_them(
    hooks: AsyncClient, hooks_app: FastAPI, receiver: Receiver
) -> None:
    author, fan, stranger = await register(hooks), await register(hooks), await register(hooks)
    follow = await hooks.post(f"/api/profiles/{author.username}/follow", headers=fan.headers)
    assert follow.status_code == 200
    fan_hook = await subscribe(hooks, fan, receiver.url, ["article.published"])
    receiver.use_secret(fan_hook["webhook"]["secret"])
    await run_jobs(hooks_app)
    assert [event["type"] for event in receiver.events] == ["ping"]

    slug = await publish(hooks, author)
    await hooks.post(f"/api/articles/{slug}/favorite", headers=stranger.headers)
    await run_jobs(hooks_app)

    published = receiver.events[-1]
    assert published["type"] == "article.published"
    as_read = (await hooks.get(f"/api/articles/{slug}")).json()["article"]
    assert published["data"]["article"] == as_read | {
        "favoritesCount": published["data"]["article"]["favoritesCount"]
    }
    assert receiver.ids[-1] == published["id"]
    assert len(receiver.events) == 2  # the favorite concerns the author, who has no endpoint


async def test_comments_favorites_and_follows_reach_the_author(
    hooks: AsyncClient, hooks_app: FastAPI, receiver: Receiver
) -> None:
    author, reader = await register(hooks), await register(hooks)
    events = ["comment.created", "comment.deleted", "article.favorited", "profile.followed"]
    hook = await subscribe(hooks, author, receiver.url, events)
    receiver.use_secret(hook["webhook"]["secret"])
    slug = await publish(hooks, author)
    comment = await hooks.post(
        f"/api/articles/{slug}/comments", json={"comment": {"body": "hi"}}, headers=reader.headers
    )
    comment_id = comment.json()["comment"]["id"]
    await run_jobs(hooks_app)
    as_read = (await hooks.get(f"/api/articles/{slug}/comments")).json()["comments"][0]
    await hooks.post(f"/api/articles/{slug}/favorite", headers=reader.headers)
    await hooks.post(f"/api/profiles/{author.username}/follow", headers=reader.headers)
    await hooks.delete(f"/api/articles/{slug}/comments/{comment_id}", headers=reader.headers)
    await run_jobs(hooks_app)

    by_type = {event["type"]: event["data"] for event in receiver.events}
    assert set(by_type) == {"ping", *events}
    assert by_type["comment.created"] == {"article": {"slug": slug}, "comment": as_read}
    assert by_type["comment.deleted"] == {"article": {"slug": slug}, "comment": {"id": comment_id}}
    assert by_type["article.favorited"]["profile"]["username"] == reader.username
    assert by_type["profile.followed"]["profile"]["username"] == reader.username


async def test_a_write_nobody_subscribes_to_records_no_event(
    hooks: AsyncClient, hooks_app: FastAPI
) -> None:
    author = await register(hooks)
    await publish(hooks, author)
    async with hooks_app.state.sessionmaker() as session:
        dispatches = await session.scalar(
            select(func.count()).where(Job.name == "webhooks.dispatch")
        )
    assert dispatches == 0


async def test_failures_are_retried_with_backoff_and_retry_after(
    hooks: AsyncClient, hooks_app: FastAPI, receiver: Receiver
) -> None:
    user = await register(hooks)
    receiver.script = [(500, {}), (429, {"Retry-After": "7"})]
    hook = await subscribe(hooks, user, receiver.url, ["article.published"])
    receiver.use_secret(hook["webhook"]["secret"])
    hook_id = hook["webhook"]["id"]
    clock = Clock()
    await run_jobs(hooks_app, clock)
    [ping] = await deliveries(hooks, user, hook_id)
    assert (ping["state"], ping["attempts"], ping["attemptLog"][0]["statusCode"]) == (
        "pending",
        1,
        500,
    )
    clock.advance(hooks_app.state.settings.webhooks_retry_base_seconds)
    await run_jobs(hooks_app, clock)
    [ping] = await deliveries(hooks, user, hook_id)
    assert [a["statusCode"] for a in ping["attemptLog"]] == [429, 500]
    waited = datetime.fromisoformat(ping["nextAttemptAt"].replace("Z", "+00:00")) - (
        datetime.fromisoformat(ping["attemptLog"][0]["attemptedAt"].replace("Z", "+00:00"))
    )
    assert waited == timedelta(seconds=7)
    clock.advance(7)
    await run_jobs(hooks_app, clock)
    [ping] = await deliveries(hooks, user, hook_id)
    assert ping["state"] == "succeeded"
    assert [a["statusCode"] for a in ping["attemptLog"]] == [204, 429, 500]
    assert [event["type"] for event in receiver.events] == ["ping"]
    assert len(set(receiver.ids)) == 1  # one webhook-id on every attempt


async def test_a_worker_cancelled_mid_delivery_loses_nothing(
    hooks: AsyncClient, hooks_app: FastAPI, receiver: Receiver
) -> None:
    user = await register(hooks)
    await run_jobs(hooks_app)  # the sign-up's own jobs: the delivery is then the only one
    receiver.block_first.set()
    hook = await subscribe(hooks, user, receiver.url, ["article.published"])
    receiver.use_secret(hook["webhook"]["secret"])
    worker = Worker(hooks_app.state.sessionmaker, hooks_app.state.settings)
    running = asyncio.create_task(worker.run_one())
    assert await asyncio.to_thread(receiver.entered.wait, 30)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    receiver.release.set()
    await run_jobs(hooks_app)
    [ping] = await deliveries(hooks, user, hook["webhook"]["id"])
    assert ping["state"] == "succeeded"
    assert len(receiver.ids) == 2 and len(set(receiver.ids)) == 1
    assert [event["type"] for event in receiver.events] == ["ping"]


async def test_a_delivery_whose_worker_died_is_delivered_after_the_lease(
    hooks: AsyncClient, hooks_app: FastAPI, receiver: Receiver
) -> None:
    user = await register(hooks)
    await run_jobs(hooks_app)  # the sign-up's own jobs: the delivery is then the only one
    hook = await subscribe(hooks, user, receiver.url, ["article.published"])
    receiver.use_secret(hook["webhook"]["secret"])
    settings = hooks_app.state.settings
    async with hooks_app.state.sessionmaker() as session:  # claimed by a worker that then died
        claimed = await queue.claim(session, "dead-worker", utc_now(), settings.jobs_lease_seconds)
        await session.commit()
    assert claimed is not None
    assert await run_jobs(hooks_app) == 0  # its lease holds
    clock = Clock()
    clock.advance(settings.jobs_lease_seconds + 1)
    await run_jobs(hooks_app, clock)
    assert [event["type"] for event in receiver.events] == ["ping"]


async def test_a_hanging_endpoint_cannot_starve_another_one(
    hooks: AsyncClient, hooks_app: FastAPI, receiver: Receiver
) -> None:
    slow_owner, fan, fast_owner = [await register(hooks) for _ in range(3)]
    slow = await subscribe(hooks, slow_owner, receiver.url, ["profile.followed"])
    receiver.use_secret(slow["webhook"]["secret"])
    await hooks.post(f"/api/profiles/{slow_owner.username}/follow", headers=fan.headers)
    await run_jobs(hooks_app)
    slow_id = slow["webhook"]["id"]
    receiver.hang.set()  # from now on it takes every request and never answers
    for delivery in await deliveries(hooks, slow_owner, slow_id):
        path = f"/api/user/webhooks/{slow_id}/deliveries/{delivery['id']}/redeliver"
        assert (await hooks.post(path, headers=slow_owner.headers)).status_code == 202
    fast_receiver = Receiver()
    try:
        fast = await subscribe(hooks, fast_owner, fast_receiver.url, ["article.published"])
        fast_receiver.use_secret(fast["webhook"]["secret"])
        # Two slots, and the slow endpoint's two attempts queued before the fast one's: only
        # the per-endpoint limit keeps the second slot free for it.
        settings = hooks_app.state.settings.model_copy(
            update={"jobs_concurrency": 2, "webhooks_endpoint_concurrency": 1}
        )
        stop = asyncio.Event()
        running = asyncio.create_task(Worker(hooks_app.state.sessionmaker, settings).run(stop))
        try:
            assert await asyncio.to_thread(receiver.entered.wait, 30)
            assert await asyncio.to_thread(fast_receiver.received.wait, 30)
            assert len(receiver.ids) == 3  # the first round's two, then one in flight
        finally:
            stop.set()
            receiver.release.set()
            await running
        [ping] = await deliveries(hooks, fast_owner, fast["webhook"]["id"])
        assert ping["state"] == "succeeded"
    finally:
        fast_receiver.stop()


async def test_loopback_is_refused_without_the_setting(
    client: AsyncClient, receiver: Receiver, settings: Settings
) -> None:
    user = await register(client)
    refused = await subscribe(client, user, "https://127.0.0.1/hooks", ["article.published"], 422)
    assert refused == {"errors": {"url": [messages.WEBHOOK_URL_NOT_PUBLIC]}}
    plain = await subscribe(client, user, "http://hooks.example.com/", ["article.published"], 422)
    assert plain == {"errors": {"url": [messages.WEBHOOK_URL_NOT_HTTPS]}}


async def test_a_name_resolving_to_a_private_address_is_refused_at_delivery(
    hooks: AsyncClient, hooks_app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def private(host: str, port: int) -> list[str]:
        return ["10.0.0.7"]

    monkeypatch.setattr(transport, "resolver", private)
    user = await register(hooks)
    hook = await subscribe(hooks, user, "https://hooks.example.com/x", ["article.published"])
    await run_jobs(hooks_app)
    [ping] = await deliveries(hooks, user, hook["webhook"]["id"])
    assert ping["state"] == "failed"
    assert "10.0.0.7" in ping["attemptLog"][0]["error"]
    assert ping["attemptLog"][0]["statusCode"] is None


async def test_redirects_are_not_followed_and_their_targets_are_checked(
    settings: Settings, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def private(host: str, port: int) -> list[str]:
        return ["10.0.0.7"]

    monkeypatch.setattr(transport, "resolver", private)
    receiver.script = [(302, {"Location": "http://internal.example.com/"})] * 2
    for redirects, error in ((0, "redirect not followed"), (1, "10.0.0.7")):
        app = await _app(settings, webhooks_max_redirects=redirects)
        try:
            async with AsyncClient(
                transport=ASGITransport(app=app), base_url="http://conduit.test"
            ) as client:
                user = await register(client)
                hook = await subscribe(client, user, receiver.url, ["article.published"])
                await run_jobs(app)
                [ping] = await deliveries(client, user, hook["webhook"]["id"])
        finally:
            await release_resources(app)
        assert ping["state"] == "failed"
        assert error in ping["attemptLog"][0]["error"]


async def test_a_delivery_can_be_redelivered_by_hand(
    hooks: AsyncClient, hooks_app: FastAPI, receiver: Receiver
) -> None:
    user = await register(hooks)
    hook = await subscribe(hooks, user, receiver.url, ["article.published"])
    receiver.use_secret(hook["webhook"]["secret"])
    hook_id = hook["webhook"]["id"]
    await run_jobs(hooks_app)
    [ping] = await deliveries(hooks, user, hook_id)
    url = f"/api/user/webhooks/{hook_id}/deliveries/{ping['id']}/redeliver"
    again = await hooks.post(url, headers=user.headers)
    assert again.status_code == 202, again.text
    assert again.json()["delivery"]["state"] == "pending"
    twice = await hooks.post(url, headers=user.headers)
    assert twice.status_code == 409
    await run_jobs(hooks_app)
    [ping] = await deliveries(hooks, user, hook_id)
    assert (ping["state"], ping["attempts"]) == ("succeeded", 2)
    assert len(receiver.events) == 2 and receiver.events[0]["id"] == receiver.events[1]["id"]
    other = await register(hooks)
    assert (await hooks.post(url, headers=other.headers)).status_code == 404


async def test_an_endpoint_failing_past_the_window_is_disabled_and_says_why(
    settings: Settings, receiver: Receiver
) -> None:
    window = 3600.0
    app = await _app(
        settings, webhooks_disable_after_seconds=window, webhooks_retry_window_seconds=2 * window
    )
    receiver.script = [(500, {})] * 50
    clock = Clock()
    try:
        async with AsyncClient(
            transport=ASGITransport(app=app), base_url="http://conduit.test"
        ) as client:
            user = await register(client)
            hook = await subscribe(client, user, receiver.url, ["article.published"])
            hook_id = hook["webhook"]["id"]
            await run_jobs(app, clock)
            failing = await client.get(f"/api/user/webhooks/{hook_id}", headers=user.headers)
            assert failing.json()["webhook"]["enabled"] is True
            assert failing.json()["webhook"]["failingSince"] is not None
            clock.advance(window)
            await run_jobs(app, clock)
            found = await client.get(f"/api/user/webhooks/{hook_id}", headers=user.headers)
            webhook = found.json()["webhook"]
            assert webhook["enabled"] is False
            assert "HTTP 500" in webhook["disabledReason"]
            enabled = await client.put(
                f"/api/user/webhooks/{hook_id}",
                json={"webhook": {"enabled": True}},
                headers=user.headers,
            )
            assert enabled.json()["webhook"]["disabledReason"] is None
    finally:
        await release_resources(app)


async def test_endpoints_are_listed_changed_and_deleted_by_their_owner_only(
    hooks: AsyncClient, receiver: Receiver
) -> None:
    owner, other = await register(hooks), await register(hooks)
    created = await hooks.post(
        "/api/user/webhooks",
        json={"webhook": {"url": receiver.url, "events": ["article.published"]}},
        headers=owner.headers,
    )
    assert created.status_code == 201, created.text
    hook_id = created.json()["webhook"]["id"]
    assert created.headers["location"] == f"/api/user/webhooks/{hook_id}"  # its own URL
    listed = await hooks.get("/api/user/webhooks", headers=owner.headers)
    assert [w["id"] for w in listed.json()["webhooks"]] == [hook_id]
    assert "secret" not in listed.json()["webhooks"][0]
    assert (await hooks.get("/api/user/webhooks", headers=other.headers)).json() == {"webhooks": []}
    path = f"/api/user/webhooks/{hook_id}"
    assert (await hooks.get(path, headers=other.headers)).status_code == 404
    changed = await hooks.put(
        path, json={"webhook": {"events": ["profile.followed"]}}, headers=owner.headers
    )
    assert changed.json()["webhook"]["events"] == ["profile.followed"]
    unknown = await hooks.put(path, json={"webhook": {"events": ["nope"]}}, headers=owner.headers)
    assert unknown.status_code == 422
    not_a_boolean = await hooks.put(path, json={"webhook": {"enabled": 0}}, headers=owner.headers)
    assert not_a_boolean.status_code == 422, not_a_boolean.text
    assert (await hooks.delete(path, headers=other.headers)).status_code == 404
    assert (await hooks.delete(path, headers=owner.headers)).status_code == 204
    assert (await hooks.get(path, headers=owner.headers)).status_code == 404


async def test_the_document_declares_every_event(openapi_document: dict[str, Any]) -> None:
    from src.services.webhooks import EVENT_TYPES

    assert set(openapi_document["webhooks"]) == set(EVENT_TYPES)


def test_a_bad_allowed_network_fails_settings_loading_with_its_name(conduit: Conduit) -> None:
    with pytest.raises(ValidationError, match=re.escape("'10.0.0.300/8' is not an IP network")):
        Settings(webhooks_allowed_networks="127.0.0.0/8,10.0.0.300/8")
    assert Settings(webhooks_allowed_networks="127.0.0.0/8, ::1/128").webhooks_allowed_networks

    refused = conduit.invoke("config", env={"WEBHOOKS_ALLOWED_NETWORKS": "localhost"})
    assert refused.exit_code == 2
    assert "WEBHOOKS_ALLOWED_NETWORKS" in refused.output
    assert "'localhost' is not an IP network" in refused.output


async def test_deliveries_and_their_attempts_are_deleted_after_the_retention_period(
    hooks: AsyncClient, hooks_app: FastAPI, receiver: Receiver
) -> None:
    user = await register(hooks)
    hook = await subscribe(hooks, user, receiver.url, ["article.published"])
    receiver.use_secret(hook["webhook"]["secret"])
    hook_id = hook["webhook"]["id"]
    await run_jobs(hooks_app)
    [ping] = await deliveries(hooks, user, hook_id)
    clock = Clock()
    clock.advance(hooks_app.state.settings.webhooks_retention_days * 86400 - 60)
    await publish(hooks, user, "Kept")
    await run_jobs(hooks_app, clock)  # not yet expired: kept
    assert len(await deliveries(hooks, user, hook_id)) == 2

    clock.advance(120)  # both are past the period now
    await publish(hooks, user, "Expires the others")
    await run_jobs(hooks_app, clock)  # each attempt deletes what expired

    [kept] = await deliveries(hooks, user, hook_id)
    assert kept["id"] != ping["id"] and kept["state"] == "succeeded"
    async with hooks_app.state.sessionmaker() as session:
        attempts = await session.scalar(select(func.count()).select_from(WebhookAttempt))
    assert attempts == 1
