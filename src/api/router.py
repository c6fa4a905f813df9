"""All API routes under /api."""

from fastapi import APIRouter

from src.api import articles, comments, favorites, profiles, tags, users

api_router = APIRouter(prefix="/api")
for module in (users, profiles, articles, favorites, comments, tags):
    api_router.include_router(module.router)
