"""An event's body: `{"id", "type", "timestamp", "data"}`, its resource rendered as the API
renders it to an anonymous reader (a test compares them), or only its identity when it is
gone (the deletions). Shapes per type: docs/webhooks.md, "Payloads"."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Integer, bindparam, select

from src.core.reads import Reads
from src.models import Comment, User
from src.services import articles, profiles
from src.services.errors import NotFound
from src.services.read_models import ArticleView, ProfileView
from src.services.sql import AnySelect, decode_tag_names

Json = dict[str, Any]

_COMMENT: AnySelect = (
    select(
        Comment.id,
        Comment.created_at,
        Comment.updated_at,
        Comment.body,
        User.username,
        User.bio,
        User.image,
    )
    .join(User, User.id == Comment.author_id)
    .where(Comment.id == bindparam("comment_id", type_=Integer))
)
_USERNAME: AnySelect = select(User.username).where(User.id == bindparam("user_id", type_=Integer))


def timestamp(value: datetime) -> str:
    """The API's timestamps: ISO-8601 in UTC with milliseconds and `Z`."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def _profile(profile: ProfileView | Any) -> Json:
    return {
        "username": profile["username"] if isinstance(profile, dict) else profile.username,
        "bio": profile["bio"] if isinstance(profile, dict) else profile.bio,
        "image": profile["image"] if isinstance(profile, dict) else profile.image,
        "following": False,
    }


def _article(article: ArticleView) -> Json:
    return {
        "slug": article["slug"],
        "title": article["title"],
        "description": article["description"],
        "body": article.get("body"),
        "tagList": decode_tag_names(article["tags"]),
        "createdAt": timestamp(article["created_at"]),
        "updatedAt": timestamp(article["updated_at"]),
        "favorited": False,
        "favoritesCount": article["favorites_count"],
        "author": _profile(dict(article)),
    }


async def _article_or_slug(reads: Reads, slug: str) -> Json:
    try:
        return _article(await articles.get_article(reads, slug, None))
    except NotFound:
        return {"slug": slug}


async def _profile_of(reads: Reads, user_id: int) -> Json:
    username = await reads.scalar(_USERNAME, {"user_id": user_id})
    try:
        return _profile(await profiles.get_profile(reads, str(username), None))
    except NotFound:  # gone meanwhile
        return {"username": username}


async def _comment_or_id(reads: Reads, comment_id: int) -> Json:
    row = await reads.first(_COMMENT, {"comment_id": comment_id})
    if row is None:
        return {"id": comment_id}
    return {
        "id": row["id"],
        "createdAt": timestamp(row["created_at"]),
        "updatedAt": timestamp(row["updated_at"]),
        "body": row["body"],
        "author": _profile(dict(row)),
    }


async def render_data(reads: Reads, event_type: str, resource: dict[str, Any]) -> Json:
    """The event's `data`: what it is about, read now (moments after the write committed)."""
    slug = str(resource.get("slug", ""))
    if event_type in ("article.published", "article.updated"):
        return {"article": await _article_or_slug(reads, slug)}
    if event_type == "article.deleted":
        return {"article": {"slug": slug}}
    if event_type == "comment.created":
        comment = await _comment_or_id(reads, int(resource["comment_id"]))
        return {"article": {"slug": slug}, "comment": comment}
    if event_type == "comment.deleted":
        return {"article": {"slug": slug}, "comment": {"id": int(resource["comment_id"])}}
    if event_type == "article.favorited":
        fan = await _profile_of(reads, int(resource["user_id"]))
        return {"article": await _article_or_slug(reads, slug), "profile": fan}
    if event_type == "profile.followed":
        return {"profile": await _profile_of(reads, int(resource["user_id"]))}
    return dict(resource)


def body_bytes(event_id: str, event_type: str, occurred_at: datetime, data: Json) -> str:
    """The delivery's exact body, stored once so every attempt sends the same bytes."""
    envelope = {"id": event_id, "type": event_type, "timestamp": timestamp(occurred_at)}
    return orjson.dumps({**envelope, "data": data}).decode()
