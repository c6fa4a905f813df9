"""Tags in use."""

from __future__ import annotations

from fastapi import APIRouter, Response

from src.api.deps import OptionalViewer, ReadsDep, log_viewer
from src.api.error_docs import error_responses
from src.api.render import tag_list_response
from src.api.schemas.tags import TagListResponse
from src.services import articles

router = APIRouter(prefix="/tags", tags=["Tags"])


@router.get(
    "",
    operation_id="GetTags",
    summary="Get tags",
    response_model=TagListResponse,
    responses=error_responses(401),
)
async def list_tags(reads: ReadsDep, viewer: OptionalViewer) -> Response:
    """Every tag used by at least one article, most used first."""
    names = await articles.list_tags(reads, viewer)
    log_viewer(viewer)
    return tag_list_response(names)
