from __future__ import annotations

from src.api.schemas import examples as ex
from src.api.schemas.base import CamelModel


class TagListResponse(CamelModel):
    model_config = ex.examples({"tags": ["dragons", "training"]})

    tags: list[str]
