"""Tags in use."""

from __future__ import annotations

from fastapi import APIRouter

from src.api.deps import Session
from src.api.schemas.tags import TagListResponse
from src.services import articles

router = APIRouter(prefix="/tags", tags=["Tags"])


@router.get("", operation_id="GetTags", summary="Get tags")
async def list_tags(session: Session) -> TagListResponse:
    """Every tag used by at least one article, most used first."""
    return TagListResponse(tags=await articles.list_tags(session))
