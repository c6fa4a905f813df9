"""All API routes under /api."""

from fastapi import APIRouter

from src.api import articles, comments, favorites, profiles, tags, users
from src.api.errors import error_responses

# Every route documents 422 with the RealWorld envelope it really sends; without this,
# FastAPI would document its own `{"detail": [...]}` shape for routes that take parameters.
api_router = APIRouter(prefix="/api", responses=error_responses(422))
for module in (users, profiles, articles, favorites, comments, tags):
    api_router.include_router(module.router)
