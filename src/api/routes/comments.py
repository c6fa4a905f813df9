"""Comments on an article."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status

from src.api import paging
from src.api.deps import (
    CommentWriter,
    CommentWriterViewer,
    OptionalViewer,
    ReadsDep,
    SessionDep,
    SettingsDep,
    log_viewer,
)
from src.api.error_docs import error_responses
from src.api.http_headers import LOCATION, location
from src.api.query_params import CURSOR, IntParam, QueryParams, QueryValues
from src.api.render import comment_list_response, comment_response
from src.api.schemas.comments import CommentListResponse, CommentResponse, NewCommentRequest
from src.services import comments

router = APIRouter(prefix="/articles/{slug}/comments", tags=["Comments"])

MAX_PAGE_SIZE = 100
# Declared once for both doors (src/api/query_params.py). Without `limit`, all of an article's
# comments, as the spec says; with it, pages that cost their own length (docs/performance.md,
# "Cursor pages").
LIMIT = IntParam(
    "limit",
    f"How many comments to return (1-{MAX_PAGE_SIZE}); all of them when left out.",
    default=None,
    ge=1,
    le=MAX_PAGE_SIZE,
)
LIST_PARAMS = QueryParams(LIMIT, CURSOR)


@router.get(
    "",
    operation_id="GetArticleComments",
    summary="Get comments for an article",
    response_model=CommentListResponse,
    responses={**error_responses(401, 404, 422, about="article"), **paging.NEXT_PAGE_RESPONSE},
)
async def list_comments(
    slug: str,
    query: Annotated[QueryValues, LIST_PARAMS.depends],
    reads: ReadsDep,
    viewer: OptionalViewer,
    settings: SettingsDep,
) -> Response:
    """The article's comments, newest first: all of them, or pages of `limit` by `cursor`
    (the previous page's `nextCursor`)."""
    bound = paging.comments_scope(slug)
    after = paging.start(settings, bound, query)
    page = await comments.list_comments(reads, slug, viewer, LIMIT.given(query), after)
    log_viewer(viewer)
    cursor, headers = paging.next_page(settings, bound, page.next, LIST_PARAMS, query)
    return comment_list_response(page, cursor, headers)


@router.post(
    "",
    operation_id="CreateArticleComment",
    summary="Create a comment for an article",
    status_code=status.HTTP_201_CREATED,
    response_model=CommentResponse,
    responses=error_responses(401, 404, 413, 422, about="article"),
)
async def add_comment(
    slug: str,
    payload: NewCommentRequest,
    request: Request,
    session: SessionDep,
    viewer: CommentWriterViewer,
) -> Response:
    """Comment on an article. `Location` is the comment's URL (the one that deletes it)."""
    comment = await comments.add_comment(session, slug, viewer, payload.comment.body)
    log_viewer(viewer)
    response = comment_response(comment, status.HTTP_201_CREATED)
    response.headers[LOCATION] = location(request, delete_comment, slug=slug, id=comment.id)
    return response


@router.delete(
    "/{id}",
    operation_id="DeleteArticleComment",
    summary="Delete a comment for an article",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(401, 403, 404, 422, about="comment"),
)
async def delete_comment(
    slug: str,
    comment_id: Annotated[int, Path(alias="id", ge=1, le=2**31 - 1)],
    session: SessionDep,
    user: CommentWriter,
) -> None:
    """The comment's author, or the article's author, deletes the comment."""
    await comments.delete_comment(session, slug, comment_id, user)
