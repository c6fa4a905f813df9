"""What an API key may do: its scopes, declared once (docs/api-keys.md).

Least privilege: a key holds only the scopes it was created with. Account changes (email,
password, deletion, sessions) and key management take no key at all, whatever its scopes.
"""

from __future__ import annotations

from collections.abc import Iterable

from src.services import messages
from src.services.errors import Forbidden, Invalid

READ = "read"  # every GET: articles, the feed, comments, profiles, tags, the current user
ARTICLES_WRITE = "articles:write"  # create, update and delete the owner's articles
COMMENTS_WRITE = "comments:write"  # add and delete the owner's comments
SOCIAL_WRITE = "social:write"  # favorites and follows
WEBHOOKS_WRITE = "webhooks:write"  # manage the owner's webhooks

# In this order everywhere they are listed (stored, shown, documented).
ALL: tuple[str, ...] = (READ, ARTICLES_WRITE, COMMENTS_WRITE, SOCIAL_WRITE, WEBHOOKS_WRITE)
DESCRIPTIONS: dict[str, str] = {
    READ: "read everything a signed-in user can read (every GET, the feed included)",
    ARTICLES_WRITE: "create, update and delete the owner's articles",
    COMMENTS_WRITE: "add and delete the owner's comments",
    SOCIAL_WRITE: "favorite and unfavorite articles, follow and unfollow users",
    WEBHOOKS_WRITE: "manage the owner's webhooks",
}
_SEPARATOR = " "


def normalized(requested: Iterable[str]) -> tuple[str, ...]:
    """The requested scopes in canonical order, each once; an unknown or no scope is Invalid."""
    wanted = set(requested)
    unknown = sorted(wanted.difference(ALL))
    if unknown:
        raise Invalid(messages.API_KEY_SCOPE_UNKNOWN.format(scope=unknown[0]), field="scopes")
    if not wanted:
        raise Invalid(messages.BLANK, field="scopes")
    return tuple(scope for scope in ALL if scope in wanted)


def encode(scopes: Iterable[str]) -> str:
    """The stored form: names separated by spaces (as OAuth's `scope`)."""
    return _SEPARATOR.join(scopes)


def decode(stored: str) -> tuple[str, ...]:
    granted = set(stored.split(_SEPARATOR))
    return tuple(scope for scope in ALL if scope in granted)


def require(granted: Iterable[str], scope: str) -> None:
    """Forbidden, naming the scope, unless it was granted."""
    if scope not in granted:
        raise Forbidden(messages.API_KEY_SCOPE_MISSING.format(scope=scope), field="scope")


def refuse_key() -> Forbidden:
    """For a route that takes no key (account changes, key management)."""
    return Forbidden(messages.API_KEY_NOT_ACCEPTED, field="token")
