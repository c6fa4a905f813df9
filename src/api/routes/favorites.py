"""Favoriting articles."""

from __future__ import annotations

from fastapi import APIRouter, Response

from src.api.deps import SessionDep, SocialWriterViewer, log_viewer
from src.api.error_docs import error_responses
from src.api.render import article_response
from src.api.schemas.articles import ArticleResponse
from src.services import favorites

router = APIRouter(prefix="/articles/{slug}/favorite", tags=["Favorites"])


@router.post(
    "",
    operation_id="CreateArticleFavorite",
    response_model=ArticleResponse,
    summary="Favorite an article",
    responses=error_responses(401, 404, about="article"),
)
async def favorite(slug: str, session: SessionDep, viewer: SocialWriterViewer) -> Response:
    """Favorite an article (idempotent); returns it with the new count."""
    article = await favorites.favorite(session, slug, viewer)
    log_viewer(viewer)
    return article_response(article)


@router.delete(
    "",
    operation_id="DeleteArticleFavorite",
    response_model=ArticleResponse,
    summary="Unfavorite an article",
    responses=error_responses(401, 404, about="article"),
)
async def unfavorite(slug: str, session: SessionDep, viewer: SocialWriterViewer) -> Response:
    """Remove a favorite (idempotent); returns the article with the new count."""
    article = await favorites.unfavorite(session, slug, viewer)
    log_viewer(viewer)
    return article_response(article)
