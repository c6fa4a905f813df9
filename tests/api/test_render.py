"""The hot routes' hand-written serializer says byte for byte what the documented schemas say."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from src.api.render import article_bytes, article_list_bytes, comment_list_bytes, profile_bytes
from src.api.schemas.articles import ArticleListResponse, ArticleResponse
from src.api.schemas.comments import CommentListResponse
from src.api.schemas.profiles import ProfileResponse
from src.services.views import ArticlePage, ArticleView, CommentView, ProfileView

AUTHORS = [
    ProfileView(username="jake", bio=None, image=None, following=False),
    ProfileView(
        username="ünïcødé 🐉",
        bio='<script>"x"</script> \\ \n',
        image="https://e.x/a.png",
        following=True,
    ),
]


def _view(n: int, *, body: str | None) -> ArticleView:
    created = datetime(2024, 2, 29, 23, 59, 59, 999_999, tzinfo=UTC) + timedelta(days=n)
    return ArticleView(
        slug=f"slug-{n}",
        title=f"Title {n} — «quoted» \"and\" 'single' 日本語",
        description="d\u2028e\u0001",
        body=body,
        tag_list=sorted({"dragons", "ünïcødé", f"t{n}"}),
        created_at=created,
        # Another offset: both must come out as UTC with milliseconds and "Z".
        updated_at=created.astimezone(timezone(timedelta(hours=-7))),
        favorited=n % 2 == 0,
        favorites_count=n * 1_000_003,
        author=AUTHORS[n % 2],
    )


@pytest.mark.parametrize("size", [0, 1, 5])
def test_a_list_renders_exactly_as_its_schema(size: int) -> None:
    page = ArticlePage(articles=[_view(n, body=None) for n in range(size)], articles_count=123)

    documented = ArticleListResponse.model_validate(
        {"articles": page.articles, "articles_count": page.articles_count}
    ).model_dump_json()

    assert article_list_bytes(page) == documented.encode()


@pytest.mark.parametrize("body", ["# Markdown\n\nwith `code` & <b>html</b> 🐉", " "])
def test_a_single_article_renders_exactly_as_its_schema(body: str) -> None:
    view = _view(3, body=body)

    documented = ArticleResponse.model_validate({"article": view}).model_dump_json()

    assert article_bytes(view) == documented.encode()


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
