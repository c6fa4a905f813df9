"""Articles: lists, the feed, and single-article reads and writes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response, status

from src.api import paging
from src.api.deps import (
    ArticleWriter,
    ArticleWriterViewer,
    OptionalViewer,
    ReadsDep,
    RequiredViewer,
    SessionDep,
    SettingsDep,
    log_viewer,
)
from src.api.error_docs import error_responses
from src.api.etags import IfMatchHeader, if_match
from src.api.http_headers import LOCATION, location
from src.api.query_params import CURSOR, IntParam, QueryParams, QueryValues, TextParam
from src.api.render import article_bytes, article_list_response, article_response
from src.api.schemas.articles import (
    ArticleListResponse,
    ArticleResponse,
    ArticleUpdateRequest,
    NewArticleRequest,
)
from src.services import articles, messages
from src.services.article_queries import ArticleFilter
from src.services.articles import ArticleChanges, NewArticle

router = APIRouter(prefix="/articles", tags=["Articles"])

MAX_PAGE_SIZE = 100
# Deep offsets cost the skipped index entries: pages stop here, and the 422 names `cursor` as
# the way further (docs/performance.md, "Deep pages").
MAX_OFFSET = 5_000

# The lists' query parameters, declared once: the routes' signatures and the hot path's parser
# (src/api/asgi/hot_reads.py) are both built from these. A filter named here is one of the query
# module's FILTERS (src/services/article_queries.py).
LIMIT = IntParam(
    "limit", "How many articles to return (1-100).", default=20, ge=1, le=MAX_PAGE_SIZE
)
OFFSET = IntParam(
    "offset",
    f"How many articles to skip first (0-{MAX_OFFSET}); further, or when articles come and go "
    "between loads, page with `cursor` instead.",
    default=0,
    ge=0,
    le=MAX_OFFSET,
    past_le=messages.OFFSET_PAST_MAXIMUM.format(maximum=MAX_OFFSET),
)
LIST_PARAMS = QueryParams(
    TextParam("tag", "Filter by tag"),
    TextParam("author", "Filter by author (username)"),
    TextParam("favorited", "Filter by favorites of a user (username)"),
    LIMIT,
    OFFSET,
    CURSOR,
)
FEED_PARAMS = QueryParams(LIMIT, OFFSET, CURSOR)


@router.get(
    "",
    operation_id="GetArticles",
    response_model=ArticleListResponse,
    summary="Get recent articles globally",
    responses={**error_responses(401, 422), **paging.NEXT_PAGE_RESPONSE},
)
async def list_articles(
    query: Annotated[QueryValues, LIST_PARAMS.depends],
    reads: ReadsDep,
    viewer: OptionalViewer,
    settings: SettingsDep,
) -> Response:
    """Newest first. `articlesCount` is the number of matches across all pages. Page with
    `offset`, or with `cursor` (the previous page's `nextCursor`), which never repeats or skips
    an article when others are published or deleted between loads."""
    filters = ArticleFilter.of(query)
    bound = paging.articles_scope(filters)
    offset = OFFSET.of(query)
    after = paging.start(settings, bound, query, offset)
    page = await articles.list_articles(reads, filters, viewer, LIMIT.of(query), offset, after)
    log_viewer(viewer)
    cursor, headers = paging.next_page(settings, bound, page.next, LIST_PARAMS, query)
    return article_list_response(page, cursor, headers)


@router.get(
    "/feed",
    operation_id="GetArticlesFeed",
    response_model=ArticleListResponse,
    summary="Get recent articles from users you follow",
    responses={**error_responses(401, 422), **paging.NEXT_PAGE_RESPONSE},
)
async def feed(
    query: Annotated[QueryValues, FEED_PARAMS.depends],
    reads: ReadsDep,
    viewer: RequiredViewer,
    settings: SettingsDep,
) -> Response:
    """Articles by authors the caller follows, newest first; pages by `offset` or `cursor`."""
    bound = paging.feed_scope(viewer)
    offset = OFFSET.of(query)
    after = paging.start(settings, bound, query, offset)
    page = await articles.feed(reads, viewer, LIMIT.of(query), offset, after)
    log_viewer(viewer)
    cursor, headers = paging.next_page(settings, bound, page.next, FEED_PARAMS, query)
    return article_list_response(page, cursor, headers)


@router.post(
    "",
    operation_id="CreateArticle",
    response_model=ArticleResponse,
    summary="Create an article",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(401, 409, 413, 422),
)
async def create_article(
    payload: NewArticleRequest,
    request: Request,
    session: SessionDep,
    viewer: ArticleWriterViewer,
) -> Response:
    """Publish an article; its slug comes from the title and is unique. `Location` is the
    article's URL."""
    new = payload.article
    data = NewArticle(
        title=new.title, description=new.description, body=new.body, tag_list=new.tag_list
    )
    article = await articles.create_article(session, viewer, data)
    log_viewer(viewer)
    response = article_response(article, status.HTTP_201_CREATED)
    response.headers[LOCATION] = location(request, get_article, slug=article["slug"])
    return response


@router.get(
    "/{slug}",
    operation_id="GetArticle",
    response_model=ArticleResponse,
    summary="Get an article",
    responses=error_responses(401, 404, about="article"),
)
async def get_article(slug: str, reads: ReadsDep, viewer: OptionalViewer) -> Response:
    """One article, with its body."""
    article = await articles.get_article(reads, slug, viewer)
    log_viewer(viewer)
    return article_response(article)


@router.put(
    "/{slug}",
    operation_id="UpdateArticle",
    response_model=ArticleResponse,
    summary="Update an article",
    responses=error_responses(401, 403, 404, 409, 412, 413, 422, about="article"),
)
async def update_article(
    slug: str,
    payload: ArticleUpdateRequest,
    session: SessionDep,
    user: ArticleWriter,
    if_match_header: IfMatchHeader = None,
) -> Response:
    """The author changes title, description, body or tags; a new title gives a new slug.
    With `If-Match`, only if the article is still as the author last read it (412 if not)."""
    update = payload.article
    changes = ArticleChanges(
        title=update.title,
        description=update.description,
        body=update.body,
        tag_list=update.tag_list,
    )
    precondition = if_match(if_match_header, article_bytes, "article")
    return article_response(
        await articles.update_article(session, slug, user, changes, precondition)
    )


@router.delete(
    "/{slug}",
    operation_id="DeleteArticle",
    summary="Delete an article",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(401, 403, 404, 412, about="article"),
)
async def delete_article(
    slug: str, session: SessionDep, user: ArticleWriter, if_match_header: IfMatchHeader = None
) -> None:
    """The author deletes the article, with its comments and favorites. With `If-Match`, only
    if the article is still as they last read it (412 if not)."""
    precondition = if_match(if_match_header, article_bytes, "article")
    await articles.delete_article(session, slug, user, precondition)
