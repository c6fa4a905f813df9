"""Hot read bodies serialized straight from the services' read models: articles from the
very rows their statement read (services/read_models.py ArticleView), comments and profiles from
their NamedTuples.

The bytes are exactly what the Pydantic schemas in src/api/schemas/articles.py produce (a test
compares them, tests/api/test_render.py); those schemas stay each route's documented
`response_model`. Skipped here: building a model per article and FastAPI validating and
re-serializing it (docs/performance.md, "The request path").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from fastapi import Response, status

from src.api.schemas.base import format_timestamp
from src.services.read_models import (
    ArticlePage,
    ArticleView,
    CommentPage,
    CommentView,
    ProfileView,
)
from src.services.sql import decode_tag_names

JSON = "application/json"


def _profile(profile: ProfileView) -> dict[str, Any]:
    return {
        "username": profile.username,
        "bio": profile.bio,
        "image": profile.image,
        "following": profile.following,
    }


def _comment(comment: CommentView) -> dict[str, Any]:
    return {
        "id": comment.id,
        "createdAt": format_timestamp(comment.created_at),
        "updatedAt": format_timestamp(comment.updated_at),
        "body": comment.body,
        "author": _profile(comment.author),
    }


def _article(article: ArticleView) -> dict[str, Any]:
    body: dict[str, Any] = {
        "slug": article["slug"],
        "title": article["title"],
        "description": article["description"],
        # Alphabetical, not the author's order: the official RealWorld Postman suite requires
        # it (it creates ["training", "dragons"] and expects "dragons" first).
        "tagList": decode_tag_names(article["tags"]),
        "createdAt": format_timestamp(article["created_at"]),
        "updatedAt": format_timestamp(article["updated_at"]),
        "favorited": bool(article["favorited"]),
        "favoritesCount": article["favorites_count"],
        "author": {
            "username": article["username"],
            "bio": article["bio"],
            "image": article["image"],
            "following": bool(article["following"]),
        },
    }
    text = article.get("body")
    if text is not None:  # lists leave the body out (the spec since 2024-08)
        body["body"] = text
    return body


def article_list_bytes(page: ArticlePage, next_cursor: str | None = None) -> bytes:
    articles = [_article(article) for article in page.articles]
    body: dict[str, Any] = {"articles": articles, "articlesCount": page.articles_count}
    if next_cursor is not None:  # only when another page follows
        body["nextCursor"] = next_cursor
    return orjson.dumps(body)


def article_bytes(article: ArticleView) -> bytes:
    return orjson.dumps({"article": _article(article)})


def comment_list_bytes(comments: Sequence[CommentView], next_cursor: str | None = None) -> bytes:
    body: dict[str, Any] = {"comments": [_comment(comment) for comment in comments]}
    if next_cursor is not None:  # only when another page follows
        body["nextCursor"] = next_cursor
    return orjson.dumps(body)


def profile_bytes(profile: ProfileView) -> bytes:
    return orjson.dumps({"profile": _profile(profile)})


def comment_response(comment: CommentView, status_code: int = status.HTTP_200_OK) -> Response:
    return Response(orjson.dumps({"comment": _comment(comment)}), status_code, media_type=JSON)


def comment_list_response(
    page: CommentPage, next_cursor: str | None = None, headers: Mapping[str, str] | None = None
) -> Response:
    body = comment_list_bytes(page.comments, next_cursor)
    return Response(body, media_type=JSON, headers=headers)


def profile_response(profile: ProfileView) -> Response:
    return Response(profile_bytes(profile), media_type=JSON)


def tag_list_response(tags: list[str]) -> Response:
    return Response(orjson.dumps({"tags": tags}), media_type=JSON)


def article_list_response(
    page: ArticlePage, next_cursor: str | None = None, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(article_list_bytes(page, next_cursor), media_type=JSON, headers=headers)


def article_response(article: ArticleView, status_code: int = status.HTTP_200_OK) -> Response:
    return Response(article_bytes(article), status_code=status_code, media_type=JSON)
