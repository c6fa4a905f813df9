from __future__ import annotations

from src.api.schemas.base import CamelModel


class TagListResponse(CamelModel):
    tags: list[str]
