"""The HTTP ingress: validates, publishes commands, awaits replies. Holds no DB credentials."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.ingress import (
    admin,
    anthropic_compat,
    contracts,
    dashboard,
    docs_ui,
    openai_compat,
    routes,
)
from services.ingress.auth import auth_status, require_admin, require_client
from services.ingress.body_limit import BodyLimitMiddleware
from services.ingress.bus_calls import ingress
from services.ingress.errors import install_error_handlers
from services.ingress.fast_lane import ChatFastLane
from services.ingress.http_metrics import HttpMetricsMiddleware
from services.ingress.models import HealthResponse
from services.ingress.state import WORKER_SERVICES, IngressState
from services.ingress.strict_json import StrictJSONRoute
from shared.messaging.topology import declare_all
from shared.providers.table import PROVIDER_KEYS, SIMULATED
from shared.routing.catalog import Catalog, catalog_for
from shared.settings import Settings


def create_app(settings: Settings, catalog: Catalog | None = None) -> FastAPI:
    """Build the app; the broker connects in the lifespan, never at import."""
    catalog = catalog or catalog_for(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = IngressState(settings, catalog)
        await state.broker.connect()
        await declare_all(state.broker, state.topology)
        await state.broker.start()
        await state.rpc.start()
        app.state.ingress = state
        try:
            yield
        finally:
            await state.rpc.stop()
            await state.broker.stop()

    app = FastAPI(
        title="AI cost optimizer",
        version="0.1.0",
        description="Answers each prompt with the cheapest model that is good enough, and "
        "learns from feedback which model each kind of prompt needs.",
        lifespan=lifespan,
        # Served by services/ingress/docs_ui.py, from files of our own instead of a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.router.route_class = StrictJSONRoute  # for the routes declared here (/health)
    install_error_handlers(app)
    # Added first, so innermost: the body limit, metrics and CORS wrap it as they wrap the routes.
    app.add_middleware(ChatFastLane)
    app.add_middleware(HttpMetricsMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        # Added last, so outermost: preflight requests are answered before any key check.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["authorization", "x-api-key", "content-type"],
            expose_headers=["x-request-id", "retry-after"],
        )
    # Who may call what (services/ingress/auth.py); /health, /metrics, docs and contracts are
    # public, and tests/unit/test_ingress_access.py keeps it that way.
    app.include_router(routes.router, dependencies=[Depends(require_client)])
    app.include_router(openai_compat.router, dependencies=[Depends(require_client)])
    app.include_router(anthropic_compat.router, dependencies=[Depends(require_client)])
    app.include_router(admin.router, dependencies=[Depends(require_admin)])
    app.include_router(contracts.router)
    app.include_router(dashboard.router)
    app.include_router(dashboard.assets)
    app.include_router(docs_ui.router)

    @app.get("/health", response_model=HealthResponse, tags=["operations"])
    async def health(request: Request) -> dict[str, Any]:
        """Broker, database (as the feedback workers see it), workers and providers."""
        return await health_report(ingress(request))

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


async def health_report(state: IngressState) -> dict[str, Any]:
    broker_ok = await state.broker_connected()
    beats = state.heartbeats.alive()
    services = state.heartbeats.by_service()
    services["ingress"] = {"instances": 1, "ready": 1}
    db_views = [b.details.get("database") for b in beats if b.service == "feedback"]
    database = {
        "status": "ok" if "ok" in db_views else ("unreachable" if db_views else "unknown"),
        "source": "feedback worker heartbeats",
    }
    providers: dict[str, dict[str, Any]] = {}
    for beat in beats:
        for entry in beat.details.get("provider_status", []):
            providers[entry["name"]] = entry
    if not providers:
        configured = set(state.settings.configured_providers()) | {SIMULATED}
        for name in PROVIDER_KEYS:
            providers[name] = {"name": name, "configured": name in configured, "circuits": {}}
    all_ready = all(services[name]["ready"] > 0 for name in WORKER_SERVICES)
    if not broker_ok:
        status = "unhealthy"
    elif all_ready and database["status"] == "ok":
        status = "healthy"
    else:
        status = "degraded"
    return {
        "status": status,
        "providers": sorted(providers.values(), key=lambda p: str(p["name"])),
        "broker": {"connected": broker_ok},
        "database": database,
        "services": services,
        "auth": auth_status(state),
    }
