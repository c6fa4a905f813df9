"""Articles: lists, the feed, and single-article reads and writes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from src.api.deps import CurrentUser, ReadsDep, Session, TokenReader, TokenViewer, signed_in
from src.api.errors import error_responses
from src.api.http_headers import LOCATION, location
from src.api.query_params import DIGITS_ONLY, EACH_PARAMETER_ONCE
from src.api.render import article_list_response, article_response
from src.api.schemas.articles import (
    ArticleListResponse,
    ArticleResponse,
    ArticleUpdateRequest,
    NewArticleRequest,
)
from src.services import articles
from src.services.articles import ArticleChanges, ArticleFilters, NewArticle

router = APIRouter(prefix="/articles", tags=["Articles"])

MAX_PAGE_SIZE = 100
MAX_OFFSET = 2**31 - 1

Limit = Annotated[
    int,
    Query(ge=1, le=MAX_PAGE_SIZE, description="How many articles to return (1-100)."),
    DIGITS_ONLY,
]
Offset = Annotated[
    int, Query(ge=0, le=MAX_OFFSET, description="How many articles to skip first."), DIGITS_ONLY
]


@router.get(
    "",
    operation_id="GetArticles",
    response_model=ArticleListResponse,
    dependencies=[EACH_PARAMETER_ONCE],
    summary="Get recent articles globally",
    responses=error_responses(401, 422),
)
async def list_articles(
    reads: ReadsDep,
    viewer: TokenViewer,
    tag: Annotated[str | None, Query(max_length=255, description="Filter by tag")] = None,
    author: Annotated[
        str | None, Query(max_length=255, description="Filter by author (username)")
    ] = None,
    favorited: Annotated[
        str | None, Query(max_length=255, description="Filter by favorites of a user (username)")
    ] = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> Response:
    """Newest first. `articlesCount` is the number of matches across all pages."""
    filters = ArticleFilters(tag=tag, author=author, favorited=favorited)
    page = await articles.list_articles(reads, filters, viewer, limit, offset)
    signed_in(viewer)
    return article_list_response(page)


@router.get(
    "/feed",
    operation_id="GetArticlesFeed",
    response_model=ArticleListResponse,
    dependencies=[EACH_PARAMETER_ONCE],
    summary="Get recent articles from users you follow",
    responses=error_responses(401, 422),
)
async def feed(
    reads: ReadsDep, reader: TokenReader, limit: Limit = 20, offset: Offset = 0
) -> Response:
    """Articles by authors the caller follows, newest first."""
    page = await articles.feed(reads, reader, limit, offset)
    signed_in(reader)
    return article_list_response(page)


@router.post(
    "",
    operation_id="CreateArticle",
    response_model=ArticleResponse,
    summary="Create an article",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(401, 409, 413, 422),
)
async def create_article(
    payload: NewArticleRequest, request: Request, session: Session, user: CurrentUser
) -> Response:
    """Publish an article; its slug comes from the title and is unique. `Location` is the
    article's URL."""
    new = payload.article
    data = NewArticle(
        title=new.title, description=new.description, body=new.body, tag_list=new.tag_list
    )
    article = await articles.create_article(session, user, data)
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
async def get_article(slug: str, reads: ReadsDep, viewer: TokenViewer) -> Response:
    """One article, with its body."""
    article = await articles.get_article(reads, slug, viewer)
    signed_in(viewer)
    return article_response(article)


@router.put(
    "/{slug}",
    operation_id="UpdateArticle",
    response_model=ArticleResponse,
    summary="Update an article",
    responses=error_responses(401, 403, 404, 409, 413, 422, about="article"),
)
async def update_article(
    slug: str, payload: ArticleUpdateRequest, session: Session, user: CurrentUser
) -> Response:
    """The author changes title, description, body or tags; a new title gives a new slug."""
    update = payload.article
    changes = ArticleChanges(
        title=update.title,
        description=update.description,
        body=update.body,
        tag_list=update.tag_list,
    )
    return article_response(await articles.update_article(session, slug, user, changes))


@router.delete(
    "/{slug}",
    operation_id="DeleteArticle",
    summary="Delete an article",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(401, 403, 404, about="article"),
)
async def delete_article(slug: str, session: Session, user: CurrentUser) -> None:
    """The author deletes the article, with its comments and favorites."""
    await articles.delete_article(session, slug, user)
