"""Probes for orchestrators and load balancers; kept out of the public API document."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from src.api.deps import SessionDep, SettingsDep
from src.api.errors import error_response
from src.services import health

router = APIRouter(prefix="/health", include_in_schema=False)


@router.get("/live")
async def live() -> dict[str, str]:
    """The process is up and serving (restart it if this fails)."""
    return {"status": "ok"}


@router.get("/ready")
async def ready(session: SessionDep, settings: SettingsDep) -> JSONResponse:
    """The database answers: send traffic here. A failing Redis is "degraded" (requests are
    still served, rate limits counted per worker) unless REDIS_REQUIRED makes it a 503."""
    timeout = settings.health_check_timeout_seconds
    problems: dict[str, list[str]] = {}
    checks: dict[str, str] = {}
    database = await health.database_problem(session, timeout)
    checks["database"] = "ok" if database is None else database
    if database is not None:
        problems["database"] = [database]
    degraded = False
    if settings.redis_url:
        # The limiter's own bound: a Redis too slow for it is as good as down.
        within = min(timeout, settings.redis_timeout_seconds)
        redis = await health.redis_problem(settings.redis_url, within)
        checks["redis"] = "ok" if redis is None else redis
        if redis is not None and settings.redis_required:
            problems["redis"] = [redis]
        degraded = redis is not None
    if problems:
        retry = {"Retry-After": str(settings.retry_after_seconds)}
        return error_response(503, problems, retry)
    return JSONResponse({"status": "degraded" if degraded else "ready", "checks": checks})
