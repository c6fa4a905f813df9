"""Tags in use."""

from __future__ import annotations

from fastapi import APIRouter, Response

from src.api.deps import ReadsDep
from src.api.render import tag_list_response
from src.api.schemas.tags import TagListResponse
from src.services import articles

router = APIRouter(prefix="/tags", tags=["Tags"])


@router.get("", operation_id="GetTags", summary="Get tags", response_model=TagListResponse)
async def list_tags(reads: ReadsDep) -> Response:
    """Every tag used by at least one article, most used first."""
    return tag_list_response(await articles.list_tags(reads))
