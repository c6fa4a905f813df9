"""The hot routes' hand-written serializer says byte for byte what the documented schemas say."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import pytest

from src.api.render import article_bytes, article_list_bytes, comment_list_bytes, profile_bytes
from src.api.schemas.articles import ArticleListResponse, ArticleResponse
from src.api.schemas.comments import CommentListResponse
from src.api.schemas.profiles import ProfileResponse
from src.services.read_models import ArticlePage, ArticleView, CommentView, ProfileView
from src.services.sql import decode_tag_names, encode_tag_names

AUTHORS = [
    ProfileView(username="jake", bio=None, image=None, following=False),
    ProfileView(
        username="ünïcødé 🐉",
        bio='<script>"x"</script> \\ \n',
        image="https://e.x/a.png",
        following=True,
    ),
]


def _row(n: int, *, body: str | None) -> ArticleView:
    """An article as its statement reads it: the row itself is the view."""
    created = datetime(2024, 2, 29, 23, 59, 59, 999_999, tzinfo=UTC) + timedelta(days=n)
    author = AUTHORS[n % 2]
    favorited = n % 2 == 0
    row = ArticleView(
        slug=f"slug-{n}",
        title=f"Title {n} — «quoted» \"and\" 'single' 日本語",
        description="d\u2028e\u0001",
        tags=encode_tag_names({"dragons", "ünïcødé", f"t{n}"}),
        created_at=created,
        # Another offset: both must come out as UTC with milliseconds and "Z".
        updated_at=created.astimezone(timezone(timedelta(hours=-7))),
        # SQLite answers flags as 0 and 1: they must still come out as JSON booleans.
        favorited=cast(bool, int(favorited)) if n % 3 == 0 else favorited,
        favorites_count=n * 1_000_003,
        username=author.username,
        bio=author.bio,
        image=author.image,
        following=cast(bool, int(author.following)) if n % 3 == 0 else author.following,
    )
    if body is not None:
        row["body"] = body
    return row


def _documented(row: ArticleView) -> dict[str, Any]:
    """The same article as the documented schema's input."""
    return {
        **row,
        "tag_list": decode_tag_names(row["tags"]),
        "author": {name: row[name] for name in ("username", "bio", "image", "following")},
    }


@pytest.mark.parametrize("size", [0, 1, 5])
def test_a_list_renders_exactly_as_its_schema(size: int) -> None:
    page = ArticlePage(articles=[_row(n, body=None) for n in range(size)], articles_count=123)

    documented = ArticleListResponse.model_validate(
        {"articles": [_documented(row) for row in page.articles], "articles_count": 123}
    ).model_dump_json()

    assert article_list_bytes(page) == documented.encode()


@pytest.mark.parametrize("body", ["# Markdown\n\nwith `code` & <b>html</b> 🐉", " "])
def test_a_single_article_renders_exactly_as_its_schema(body: str) -> None:
    row = _row(3, body=body)

    documented = ArticleResponse.model_validate({"article": _documented(row)}).model_dump_json()

    assert article_bytes(row) == documented.encode()


@pytest.mark.parametrize("size", [0, 1, 3])
def test_comments_render_exactly_as_their_schema(size: int) -> None:
    created = datetime(2024, 2, 29, 23, 59, 59, 1_000, tzinfo=UTC)
    comments = [
        CommentView(
            id=n + 2**31 - 5,
            created_at=created + timedelta(seconds=n),
            updated_at=(created + timedelta(hours=n)).astimezone(timezone(timedelta(hours=5))),
            body=f'Body {n} 🐉 <i>"x"</i>\n',
            author=AUTHORS[n % 2],
        )
        for n in range(size)
    ]

    documented = CommentListResponse.model_validate({"comments": comments}).model_dump_json()

    assert comment_list_bytes(comments) == documented.encode()


@pytest.mark.parametrize("profile", AUTHORS)
def test_a_profile_renders_exactly_as_its_schema(profile: ProfileView) -> None:
    documented = ProfileResponse.model_validate({"profile": profile}).model_dump_json()

    assert profile_bytes(profile) == documented.encode()
