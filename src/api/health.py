"""Probes for orchestrators and load balancers; kept out of the public API document."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from src.api.deps import Session, SettingsDep
from src.api.errors import error_response
from src.services import health

router = APIRouter(prefix="/health", include_in_schema=False)


@router.get("/live")
async def live() -> dict[str, str]:
    """The process is up and serving (restart it if this fails)."""
    return {"status": "ok"}


@router.get("/ready")
async def ready(session: Session, settings: SettingsDep) -> JSONResponse:
    """The database (and Redis, when configured) answer: send traffic here."""
    timeout = settings.health_check_timeout_seconds
    problems: dict[str, list[str]] = {}
    checks: dict[str, str] = {}
    database = await health.database_problem(session, timeout)
    checks["database"] = "ok" if database is None else database
    if database is not None:
        problems["database"] = [database]
    if settings.redis_url:
        redis = await health.redis_problem(settings.redis_url, timeout)
        checks["redis"] = "ok" if redis is None else redis
        if redis is not None:
            problems["redis"] = [redis]
    if problems:
        retry = {"Retry-After": str(settings.retry_after_seconds)}
        return error_response(503, problems, retry)
    return JSONResponse({"status": "ready", "checks": checks})
