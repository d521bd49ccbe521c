"""Liveness, readiness and metrics over HTTP for worker processes (PROBE_PORT)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.runtime import Worker


def probe_app(workers: Sequence[Worker], alive: Callable[[], bool]) -> Starlette:
    async def livez(_: Request) -> Response:
        return JSONResponse({"alive": alive()}, status_code=200 if alive() else 503)

    async def readyz(_: Request) -> Response:
        states = {w.name: w.ready() for w in workers}
        ok = all(states.values())
        return JSONResponse({"ready": ok, "services": states}, status_code=200 if ok else 503)

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[
            Route("/livez", livez),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
        ]
    )
