"""The proof for integrators: a client generated from the served document works end to end.

openapi-python-client builds a package from `GET /openapi.json` of a live server; that package,
and nothing hand-written, then registers, logs in, writes, lists, favorites and comments.
"""

from __future__ import annotations

import importlib
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image

from tests.jobs import run_jobs_until_idle

pytestmark = pytest.mark.e2e

GENERATOR = Path(sys.executable).with_name("openapi-python-client")
PACKAGE = "conduit_generated_client"


@pytest.fixture(scope="module")
def generated(live_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Generate the client package from the served document; yield its import name."""
    workdir = tmp_path_factory.mktemp("client")
    document = workdir / "openapi.json"
    document.write_bytes(httpx.get(f"{live_server}/openapi.json").raise_for_status().content)
    result = subprocess.run(  # noqa: S603 - the generator from our venv, fixed arguments
        [
            str(GENERATOR),
            "generate",
            "--path",
            str(document),
            "--meta",
            "none",
            "--output-path",
            str(workdir / PACKAGE),
        ],
        cwd=workdir,
        # Its post-hooks run ruff, which lives beside it in the venv.
        env={**os.environ, "PATH": f"{GENERATOR.parent}{os.pathsep}{os.environ.get('PATH', '')}"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    sys.path.insert(0, str(workdir))
    try:
        yield PACKAGE
    finally:
        sys.path.remove(str(workdir))
        for name in [m for m in sys.modules if m.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def module(package: str, name: str) -> ModuleType:
    return importlib.import_module(f"{package}.{name}")


def test_generated_client_registers_logs_in_writes_lists_favorites_and_comments(
    generated: str, live_server: str
) -> None:
    client_mod = module(generated, "client")
    models = module(generated, "models")

    def call(operation: str, **kwargs: Any) -> Any:
        tag, name = operation.split(".")
        response = module(generated, f"api.{tag}.{name}").sync_detailed(**kwargs)
        assert response.status_code < 300, (operation, response.status_code, response.content)
        return response.parsed

    with client_mod.Client(base_url=live_server, raise_on_unexpected_status=True) as anonymous:
        created = call(
            "user_and_authentication.create_user",
            client=anonymous,
            body=models.NewUserRequest(
                user=models.NewUser(
                    username="integrator", email="int@example.com", password="s3cret-pass"
                )
            ),
        )
        assert created.user.username == "integrator"

        logged_in = call(
            "user_and_authentication.login",
            client=anonymous,
            body=models.LoginRequest(
                user=models.LoginUser(email="int@example.com", password="s3cret-pass")
            ),
        )

    # The spec's scheme: `Authorization: Token <jwt>`.
    with client_mod.AuthenticatedClient(
        base_url=live_server,
        token=logged_in.user.token,
        prefix="Token",
        raise_on_unexpected_status=True,
    ) as client:
        me = call("user_and_authentication.get_current_user", client=client)
        assert me.user.email == "int@example.com"

        article = call(
            "articles.create_article",
            client=client,
            body=models.NewArticleRequest(
                article=models.NewArticle(
                    title="Generated clients",
                    description="From the OpenAPI document",
                    body="It just works.",
                    tag_list=["openapi", "clients"],
                )
            ),
        ).article
        assert article.tag_list == ["clients", "openapi"]
        assert article.author.username == "integrator"

        listed = call("articles.get_articles", client=client, tag="openapi")
        assert listed.articles_count == 1
        assert [a.slug for a in listed.articles] == [article.slug]

        favorited = call(
            "favorites.create_article_favorite", slug=article.slug, client=client
        ).article
        assert favorited.favorited is True
        assert favorited.favorites_count == 1

        comment = call(
            "comments.create_article_comment",
            slug=article.slug,
            client=client,
            body=models.NewCommentRequest(comment=models.NewComment(body="Nice and typed.")),
        ).comment
        assert comment.author.username == "integrator"

        comments = call("comments.get_article_comments", slug=article.slug, client=client).comments
        assert [c.body for c in comments] == ["Nice and typed."]


def operation(package: str, name: str, **kwargs: Any) -> Any:
    """Call the generated operation `tag.name`; its parsed body, once it answered 2xx."""
    tag, function = name.split(".")
    response = module(package, f"api.{tag}.{function}").sync_detailed(**kwargs)
    assert response.status_code < 300, (name, response.status_code, response.content)
    return response.parsed


def signed_up(package: str, base_url: str, name: str) -> Any:
    """A new user's AuthenticatedClient (open: the caller closes it)."""
    models = module(package, "models")
    with module(package, "client").Client(base_url=base_url) as anonymous:
        user = operation(
            package,
            "user_and_authentication.create_user",
            client=anonymous,
            body=models.NewUserRequest(
                user=models.NewUser(
                    username=name, email=f"{name}@example.com", password="s3cret-pass"
                )
            ),
        ).user
    return module(package, "client").AuthenticatedClient(
        base_url=base_url, token=user.token, prefix="Token", raise_on_unexpected_status=True
    )


async def test_generated_client_pages_articles_feed_and_comments_by_cursor(
    generated: str, live_server: str, app: FastAPI
) -> None:
    models = module(generated, "models")
    unset = module(generated, "types").UNSET
    with (
        signed_up(generated, live_server, "pager") as writer,
        signed_up(generated, live_server, "follower") as reader,
    ):
        slugs = [
            operation(
                generated,
                "articles.create_article",
                client=writer,
                body=models.NewArticleRequest(
                    article=models.NewArticle(
                        title=f"Paged {n}", description="d", body="b", tag_list=["paged"]
                    )
                ),
            ).article.slug
            for n in range(3)
        ]
        operation(generated, "profile.follow_user_by_username", username="pager", client=reader)
        await run_jobs_until_idle(app)  # the follow's fan-out: the live server runs no jobs
        for n in range(3):
            operation(
                generated,
                "comments.create_article_comment",
                slug=slugs[0],
                client=writer,
                body=models.NewCommentRequest(comment=models.NewComment(body=f"Comment {n}")),
            )

        def walk(name: str, items: str, **kwargs: Any) -> list[list[Any]]:
            """Every page of two, each asked for with the page before's `nextCursor`."""
            pages: list[list[Any]] = []
            cursor = unset
            while True:
                page = operation(generated, name, limit=2, cursor=cursor, **kwargs)
                pages.append(getattr(page, items))
                if page.next_cursor is unset:  # absent on the last page
                    return pages
                cursor = page.next_cursor

        newest_first = slugs[::-1]
        listed = walk("articles.get_articles", "articles", client=reader, tag="paged")
        assert [[a.slug for a in page] for page in listed] == [newest_first[:2], newest_first[2:]]
        fed = walk("articles.get_articles_feed", "articles", client=reader)
        assert [[a.slug for a in page] for page in fed] == [newest_first[:2], newest_first[2:]]
        said = walk("comments.get_article_comments", "comments", client=reader, slug=slugs[0])
        assert [[c.body for c in page] for page in said] == [
            ["Comment 2", "Comment 1"],
            ["Comment 0"],
        ]


def test_generated_client_sends_an_idempotency_key_and_gets_the_first_answer_again(
    generated: str, live_server: str
) -> None:
    client_mod = module(generated, "client")
    models = module(generated, "models")
    create_user = module(generated, "api.user_and_authentication.create_user")
    create_article = module(generated, "api.articles.create_article")
    with client_mod.Client(base_url=live_server) as anonymous:
        new_user = models.NewUser(
            username="retrier", email="retrier@example.com", password="s3cret-pass"
        )
        user = create_user.sync_detailed(
            client=anonymous, body=models.NewUserRequest(user=new_user)
        ).parsed.user
    body = models.NewArticleRequest(
        article=models.NewArticle(title="Sent twice", description="d", body="b")
    )

    with client_mod.AuthenticatedClient(
        base_url=live_server, token=user.token, prefix="Token"
    ) as client:
        # The header is a declared parameter of the operation: the generator names it.
        first = create_article.sync_detailed(client=client, body=body, idempotency_key="once-1")
        again = create_article.sync_detailed(client=client, body=body, idempotency_key="once-1")

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.parsed.article.slug == first.parsed.article.slug


def test_generated_client_uploads_a_profile_picture(generated: str, live_server: str) -> None:
    models = module(generated, "models")
    types = module(generated, "types")
    client_mod = module(generated, "client")
    with client_mod.Client(base_url=live_server, raise_on_unexpected_status=True) as anonymous:
        created = module(generated, "api.user_and_authentication.create_user").sync(
            client=anonymous,
            body=models.NewUserRequest(
                user=models.NewUser(
                    username="painter", email="p@example.com", password="s3cret-pass"
                )
            ),
        )
    picture = io.BytesIO()
    Image.new("RGB", (300, 200), "purple").save(picture, "PNG")
    picture.seek(0)

    with client_mod.AuthenticatedClient(
        base_url=live_server, token=created.user.token, prefix="Token"
    ) as client:
        response = module(
            generated, "api.user_and_authentication.upload_current_user_image"
        ).sync_detailed(
            client=client,
            body=models.UploadCurrentUserImageFilesUserImageUpload(
                image=types.File(payload=picture, file_name="me.png", mime_type="image/png")
            ),
        )

    assert response.status_code == 200, response.content
    image = response.parsed.user.image
    name = image.split("/media/", 1)[1]  # MEDIA_PUBLIC_URL is not the live server's address
    served = httpx.get(f"{live_server}/media/{name}")
    assert served.status_code == 200
    assert Image.open(io.BytesIO(served.content)).format == "WEBP"
