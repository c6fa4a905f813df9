"""Example bodies for the OpenAPI document, after the RealWorld spec's own (Jake's dragon)."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict

TIMESTAMP = "2016-02-18T03:22:56.637Z"
TOKEN = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"  # noqa: S105

USER = {
    "email": "jake@jake.jake",
    "token": TOKEN,
    "username": "jake",
    "bio": "I work at statefarm",
    "image": None,
    "emailVerified": False,
}
PROFILE = {
    "username": "jake",
    "bio": "I work at statefarm",
    "image": "https://api.realworld.io/images/smiley-cyrus.jpg",
    "following": False,
}
ARTICLE_LIST_ITEM = {
    "slug": "how-to-train-your-dragon",
    "title": "How to train your dragon",
    "description": "Ever wonder how?",
    "tagList": ["dragons", "training"],
    "createdAt": TIMESTAMP,
    "updatedAt": TIMESTAMP,
    "favorited": False,
    "favoritesCount": 0,
    "author": PROFILE,
}
ARTICLE = {**ARTICLE_LIST_ITEM, "body": "It takes a Jacobian"}
COMMENT = {
    "id": 1,
    "createdAt": TIMESTAMP,
    "updatedAt": TIMESTAMP,
    "body": "It takes a Jacobian",
    "author": PROFILE,
}


def examples(*bodies: dict[str, Any]) -> ConfigDict:
    """`model_config` for a schema whose JSON Schema carries these whole-body examples."""
    return ConfigDict(json_schema_extra={"examples": list(bodies)})
