"""Readable, URL-safe slugs from any title."""

from __future__ import annotations

import secrets

from slugify import slugify

SLUG_BASE_MAX_LENGTH = 200
FALLBACK_SLUG = "article"
# Fixed segments of the routes under /api/articles/ (GET /api/articles/feed): an article with
# one of these slugs could never be read, so they count as taken. tests/api/test_articles.py
# checks this against the router.
RESERVED_SLUGS = frozenset({"feed"})


def slug_base(title: str) -> str:
    """Transliterated, lower-case, hyphenated; unicode titles stay readable ("Привет" → "privet").

    A title with nothing to transliterate (only emoji or punctuation) gets a generic base.
    """
    base = slugify(title, max_length=SLUG_BASE_MAX_LENGTH, word_boundary=True)
    return base or FALLBACK_SLUG


def with_suffix(base: str) -> str:
    """A collision-free variant: a short random suffix, unguessable and race-safe."""
    return f"{base}-{secrets.token_hex(4)}"
