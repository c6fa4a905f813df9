"""GET /metrics in the Prometheus text format (every worker's samples, in multiprocess mode)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from src.core import metrics

router = APIRouter(include_in_schema=False)


@router.get("/metrics")
async def prometheus_metrics(request: Request) -> Response:
    """Request counts and latencies, in-flight requests, pool state and the running version."""
    body, media_type = metrics.render(request.app.state.engine)
    return Response(body, media_type=media_type)
