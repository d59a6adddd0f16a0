"""GET /metrics (Prometheus text format) and the middleware counting requests by route."""

from __future__ import annotations

import time

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rag import metrics
from rag.api.deps import KB

router = APIRouter(tags=["metrics"])


@router.get("/metrics", include_in_schema=False)
def scrape(kb: KB) -> Response:
    """Every metric, for Prometheus."""
    return Response(metrics.exposition(kb.collection_counts()), media_type=CONTENT_TYPE_LATEST)


class RequestMetrics:
    """Counts requests and their latency by method, route template and status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Time the request; label it once the router has chosen its route."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            labels = (scope["method"], route, str(status))
            metrics.metrics().requests.labels(*labels).inc()
            metrics.metrics().latency.labels(*labels).observe(time.perf_counter() - began)
