"""Cursor pages over HTTP: the `cursor` parameter read into a position, and the next page's
cursor handed back as `nextCursor` and as `Link: <?...&cursor=...>; rel="next"`.

The link is a query-only relative reference (RFC 3986, section 4.2): it resolves against the
request's own URL, so it stays right behind any proxy or mount prefix, and both doors (the hot
path and FastAPI) write it alike from the declared parameters (docs/performance.md, "Cursor
pages").
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from src.api.query_params import CURSOR, QueryParams, QueryValues
from src.core.config import Settings
from src.services import cursors, messages
from src.services.article_queries import ArticleFilter
from src.services.auth import Viewer
from src.services.cursors import CursorCodec, Keyset
from src.services.errors import Invalid

LINK = "Link"
# The OpenAPI document's description of the header, on every list that sends it.
NEXT_PAGE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "headers": {
            LINK: {
                "description": 'The next page: `<?...&cursor=...>; rel="next"` (relative to '
                "this request's URL), absent on the last page.",
                "schema": {"type": "string"},
            }
        }
    }
}


def articles_scope(filters: ArticleFilter) -> bytes:
    """An article list's cursors hold for the same filters only (signed in or not)."""
    return cursors.scope("articles", filters.shape, filters.values)


def feed_scope(viewer: Viewer) -> bytes:
    """A feed's cursors hold for its reader only."""
    return cursors.scope("feed", viewer.user_id)


def comments_scope(slug: str) -> bytes:
    """A comment list's cursors hold for its article only."""
    return cursors.scope("comments", slug)


def codec(settings: Settings) -> CursorCodec:
    return cursors.codec_for(settings.secret_key.get_secret_value())


def start(
    settings: Settings, bound_to: bytes, query: QueryValues, offset: int = 0
) -> Keyset | None:
    """The position a page starts after: None without a cursor; 422 for a cursor that is not
    ours, not this list's, or sent with an offset (a cursor already says where the page is)."""
    text = CURSOR.of(query)
    if text is None:
        return None
    if offset:
        raise Invalid(messages.CURSOR_WITH_OFFSET, field=cursors.FIELD)
    return codec(settings).read(bound_to, text)


def next_page(
    settings: Settings,
    bound_to: bytes,
    at: Keyset | None,
    declared: QueryParams,
    query: QueryValues,
) -> tuple[str | None, dict[str, str]]:
    """(nextCursor, headers): the next page's cursor and its `Link`, or (None, {}) on the last
    page. The link keeps the request's parameters but `offset` and `cursor`."""
    if at is None:
        return None, {}
    cursor = codec(settings).sign(bound_to, at)
    kept = [
        (param.name, query[param.name])
        for param in declared.params
        if param.name not in (CURSOR.name, "offset") and query[param.name] is not None
    ]
    link = "?" + urlencode([*kept, (CURSOR.name, cursor)])
    return cursor, {LINK: f'<{link}>; rel="next"'}
