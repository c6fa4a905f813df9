"""All API routes under /api."""

from fastapi import APIRouter, Depends

from src.api.deps import limit_writes
from src.api.error_docs import COMMON_ERRORS, error_responses
from src.api.routes import (
    account_email,
    admin,
    api_keys,
    articles,
    comments,
    favorites,
    profiles,
    tags,
    user_image,
    users,
    webhooks,
)

# Every route documents 422 with the RealWorld envelope it really sends; without this,
# FastAPI would document its own `{"detail": [...]}` shape for routes that take parameters.
# 429 (rate limits) and 503 (database outage) can likewise happen on any route.
# Writes are rate-limited before any route dependency opens a database session.
api_router = APIRouter(
    prefix="/api",
    responses=error_responses(*COMMON_ERRORS),
    dependencies=[Depends(limit_writes)],
)
for module in (users, account_email, profiles, articles, favorites, comments, tags):
    api_router.include_router(module.router)
api_router.include_router(admin.router)  # /api/admin/..., tagged "Admin"
api_router.include_router(api_keys.router)  # /api/user/keys
api_router.include_router(api_keys.admin_router)  # /api/admin/users/{username}/keys
api_router.include_router(webhooks.router)  # /api/user/webhooks
api_router.include_router(user_image.router)  # /api/user/image
