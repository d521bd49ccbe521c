"""Every HTTP route says who may call it; auth can be off only in development."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.ingress.app import create_app
from services.ingress.body_limit import BodyLimitMiddleware
from shared.settings import Settings

# Public on purpose: they show no data (health and metrics are for probes and scrapers).
PUBLIC = {
    "/health",
    "/metrics",
    "/docs",
    "/docs/oauth2-redirect",
    "/docs/static/{name}",
    "/openapi.json",
    "/schemas",
    "/schemas/{name}.json",
    "/asyncapi.json",
    "/dashboard/static/{name:path}",
}


def _openapi() -> dict[str, Any]:
    return create_app(Settings(environment="test")).openapi()


def test_every_operation_is_public_on_purpose_or_needs_a_key() -> None:
    for path, operations in _openapi()["paths"].items():
        for method, operation in operations.items():
            schemes = {name for entry in operation.get("security", []) for name in entry}
            where = f"{method.upper()} {path}"
            if path in PUBLIC:
                assert not schemes, f"{where} is public and asks for a key"
            elif path.startswith(("/admin", "/dashboard")):
                assert schemes == {"AdminApiKey"}, f"{where} needs the admin scope"
            else:
                assert schemes == {"ApiKey"}, f"{where} has no API key guard"


def test_every_route_parses_bodies_as_strict_json() -> None:
    # A route with FastAPI's default parser would take a lone surrogate or NaN again.
    from fastapi.routing import APIRoute

    from services.ingress.strict_json import StrictJSONRoute

    app = create_app(Settings(environment="test"))
    routes = [r for r in app.routes if isinstance(r, APIRoute)]
    assert routes
    lenient = [r.path for r in routes if not isinstance(r, StrictJSONRoute)]
    assert not lenient, f"routes without the strict JSON parser: {lenient}"


async def test_docs_page_and_its_assets_are_served_here_not_from_a_cdn() -> None:
    app = create_app(Settings(environment="test"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ingress") as client:
        page = await client.get("/docs")
        assert page.status_code == 200
        assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert len(assets) == 3, assets
        for url in assets:
            assert url.startswith("/docs/static/"), f"{url} is not ours"
            asset = await client.get(url)
            assert asset.status_code == 200 and len(asset.content) > 1000, url
        assert "'/openapi.json'" in page.text
        assert (await client.get("/docs/static/../../settings.py")).status_code == 404
        assert (await client.get("/redoc")).status_code == 404, "no page that needs a CDN"


def test_openapi_describes_the_bearer_schemes() -> None:
    schemes = _openapi()["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {**schemes["ApiKey"], "type": "http", "scheme": "bearer"}
    assert schemes["AdminApiKey"]["scheme"] == "bearer"


def test_auth_can_be_switched_off_only_in_development_or_tests() -> None:
    assert not Settings(environment="development", auth_enabled=False).auth_enabled
    with pytest.raises(ValueError, match="AUTH_ENABLED=false"):
        Settings(
            environment="production",
            auth_enabled=False,
            allow_simulated_in_production=True,
            rabbitmq_url="amqp://optimizer:s3cret-pass@mq:5672/",
            database_url="postgresql://optimizer:s3cret-pass@db/optimizer",
        )
    assert Settings().auth_enabled, "on unless switched off"


def test_cors_origins_from_a_comma_separated_list_none_by_default() -> None:
    assert Settings().cors_origins == []
    assert Settings(cors_origins="https://a.example, https://b.example").cors_origins == [
        "https://a.example",
        "https://b.example",
    ]


def _echo_app(limit: int) -> BodyLimitMiddleware:
    async def echo(request: Request) -> JSONResponse:
        return JSONResponse({"size": len(await request.body())})

    return BodyLimitMiddleware(Starlette(routes=[Route("/", echo, methods=["POST"])]), limit)


@pytest.mark.parametrize("chunked", [False, True])
async def test_bodies_over_the_limit_are_413_with_or_without_content_length(chunked: bool) -> None:
    async def chunks(size: int):  # a generator body has no Content-Length: sent chunked
        for _ in range(size // 1000):
            yield b"x" * 1000

    transport = httpx.ASGITransport(app=_echo_app(5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for size, status in ((5000, 200), (6000, 413)):
            content = chunks(size) if chunked else b"x" * size
            response = await client.post("/", content=content)
            assert response.status_code == status
            if status == 200:
                assert response.json() == {"size": size}
            else:
                assert response.json()["error"]["type"] == "body_too_large"
                assert "MAX_BODY_BYTES=5000" in response.json()["error"]["message"]


async def test_cors_answers_preflights_of_configured_origins_only() -> None:
    app = create_app(Settings(environment="test", cors_origins=["https://app.example"]))
    transport = httpx.ASGITransport(app=app)
    preflight = {
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization",
    }
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        allowed = await client.options(
            "/v1/route", headers={**preflight, "origin": "https://app.example"}
        )
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"
        other = await client.options(
            "/v1/route", headers={**preflight, "origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in other.headers
