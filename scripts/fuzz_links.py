"""Print the OpenAPI document a live server serves, with OpenAPI links added for fuzzing.

Links tell schemathesis how operations chain (create an article -> read, edit, favorite,
comment on, delete it; register -> follow -> read the feed), so its stateful phase reaches
deep states instead of 404s. Added here, not in the published document, because they serve
the fuzzer; the document under test is otherwise exactly what the server serves.

Usage: python scripts/fuzz_links.py http://127.0.0.1:PORT > schema.json
"""

from __future__ import annotations

import json
import sys
import urllib.request
from typing import Any

ARTICLE_SLUG = {"slug": "$response.body#/article/slug"}
LINKS: dict[tuple[str, str, str], dict[str, dict[str, Any]]] = {
    ("/api/articles", "post", "201"): dict.fromkeys(
        (
            "GetArticle",
            "UpdateArticle",
            "DeleteArticle",
            "CreateArticleFavorite",
            "DeleteArticleFavorite",
            "GetArticleComments",
            "CreateArticleComment",
        ),
        ARTICLE_SLUG,
    ),
    ("/api/articles/{slug}", "put", "200"): dict.fromkeys(
        ("GetArticle", "DeleteArticle", "CreateArticleComment"), ARTICLE_SLUG
    ),
    ("/api/articles/{slug}/favorite", "post", "200"): dict.fromkeys(
        ("GetArticle", "DeleteArticleFavorite", "DeleteArticle"), ARTICLE_SLUG
    ),
    ("/api/articles/{slug}/comments", "post", "201"): {
        "DeleteArticleComment": {
            "slug": "$request.path.slug",
            "id": "$response.body#/comment/id",
        },
        "GetArticleComments": {"slug": "$request.path.slug"},
    },
    ("/api/users", "post", "201"): {
        op: {"username": "$response.body#/user/username"}
        for op in ("GetProfileByUsername", "FollowUserByUsername", "UnfollowUserByUsername")
    },
    ("/api/profiles/{username}/follow", "post", "200"): {
        "GetArticlesFeed": {},
        "UnfollowUserByUsername": {"username": "$response.body#/profile/username"},
        "GetArticles": {"author": "$response.body#/profile/username"},
    },
}


def with_links(document: dict[str, Any]) -> dict[str, Any]:
    for (path, method, status), links in LINKS.items():
        response = document["paths"][path][method]["responses"][status]
        response["links"] = {
            f"To{operation}": {"operationId": operation, "parameters": parameters}
            for operation, parameters in links.items()
        }
    return document


if __name__ == "__main__":
    base = sys.argv[1].rstrip("/")
    with urllib.request.urlopen(f"{base}/openapi.json", timeout=10) as response:  # noqa: S310
        document = json.load(response)
    json.dump(with_links(document), sys.stdout, indent=1)
