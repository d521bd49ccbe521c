"""Per-endpoint request latency for Prometheus, as a plain ASGI middleware (cheap per request)."""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.metrics import HTTP_LATENCY


class HttpMetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def remember_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, remember_status)
        finally:
            route: Any = scope.get("route")
            # The route template, not the raw path: ids in paths would explode the label set.
            path = getattr(route, "path", "unmatched")
            HTTP_LATENCY.labels(scope["method"], path, str(status)).observe(
                time.perf_counter() - started
            )
