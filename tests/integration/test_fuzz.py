"""Schemathesis against the ingress's own OpenAPI document: no generated input gets a 5xx.

Valid (positive) and invalid (negative) inputs for every operation, sent with an admin key to
the running system over the real broker and database. Bounded: a few examples per operation
and mode, about 20 s in all. Requests run in a thread, since schemathesis calls are blocking
and the services share this test's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from shared.settings import Settings
from tests.integration.auth_support import SecuredSystem, secured_system

EXAMPLES_PER_MODE = 12
# Schemathesis's own strategies draw from `random`; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")


@pytest.fixture(scope="module")
async def secured(settings: Settings) -> AsyncIterator[SecuredSystem]:
    # Short waits: a missing reply shows as a fast 504, feedback on unknown ids answers fast.
    async with secured_system(settings, request_timeout_s=5, feedback_grace_s=0.05) as system:
        yield system


def _probe(
    operation: Any, mode: GenerationMode, base_url: str, session: requests.Session
) -> list[str]:
    failures: list[str] = []

    @settings(
        max_examples=EXAMPLES_PER_MODE,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def probe(case: schemathesis.Case) -> None:
        response = case.call(base_url=base_url, session=session, timeout=20)
        if response.status_code >= 500:
            failures.append(
                f"{case.method} {case.formatted_path} ({mode.value}) -> "
                f"{response.status_code}: {response.text[:200]}"
            )

    # Unsatisfiable: no such input exists, e.g. no invalid input for an operation without any.
    with contextlib.suppress(Unsatisfiable):
        probe()
    return failures


def _fuzz(openapi: dict[str, Any], base_url: str, key: str) -> list[str]:
    schema = schemathesis.openapi.from_dict(openapi)
    session = requests.Session()
    session.headers["authorization"] = f"Bearer {key}"
    failures: list[str] = []
    for result in schema.get_all_operations():
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            failures += _probe(result.ok(), mode, base_url, session)
    return failures


async def test_no_generated_input_gets_a_server_error(secured: SecuredSystem) -> None:
    _, admin = await secured.key("admin")
    async with secured.client() as client:
        openapi = (await client.get("/openapi.json")).json()
    failures = await asyncio.to_thread(_fuzz, openapi, secured.running.base_url, admin)
    assert not failures, "\n".join(failures[:20])


# Routes outside the OpenAPI document, which schemathesis cannot see: probed below with
# hostile path parts, every method, with and without a key. Kept complete by the test after.
HIDDEN_ROUTES = (
    "/openapi.json",
    "/metrics",
    "/docs",
    "/docs/oauth2-redirect",
    "/docs/static/{name}",
    "/dashboard/static/{name}",
)
HOSTILE_NAMES = (
    "../../../../etc/passwd",
    "..%2f..%2f..%2fetc%2fpasswd",
    "%2e%2e/%2e%2e/services/ingress/app.py",
    "dashboard.css/../../../app.py",
    "swagger-ui.css%00.png",
    "%ff%fe%00",
    "\u202e\ud800".encode("utf-8", "surrogatepass").hex(),
    "x" * 5000,
    "CON",
    "",
)


def _hidden_paths() -> list[str]:
    paths: list[str] = []
    for route in HIDDEN_ROUTES:
        if "{name}" in route:
            paths += [route.replace("{name}", name) for name in HOSTILE_NAMES]
        else:
            paths += [route, route + "/../../etc/passwd", route + "?%00=%ff&x=" + "y" * 3000]
    return paths


def _probe_hidden(base_url: str, key: str) -> list[str]:
    failures = []
    with requests.Session() as session:
        for path in _hidden_paths():
            for method in ("GET", "HEAD", "POST", "DELETE"):
                for headers in ({}, {"authorization": f"Bearer {key}"}):
                    response = session.request(
                        method, base_url + path, headers=headers, timeout=20, data=b"\xff" * 64
                    )
                    leaked = b"root:" in response.content or b"import " in response.content
                    if response.status_code >= 500 or leaked:
                        failures.append(f"{method} {path[:80]} -> {response.status_code}")
    return failures


async def test_routes_outside_the_openapi_document_get_no_server_error_and_leak_no_file(
    secured: SecuredSystem,
) -> None:
    _, admin = await secured.key("admin")
    failures = await asyncio.to_thread(_probe_hidden, secured.running.base_url, admin)
    assert not failures, "\n".join(failures[:20])


def test_every_route_outside_the_openapi_document_is_probed() -> None:
    """A route left out of the schema (`include_in_schema=False` on it or on its router, as
    the ingress writes them) must be in HIDDEN_ROUTES."""
    source = Path(__file__).resolve().parents[2] / "services" / "ingress"
    hidden = {"/openapi.json"}  # FastAPI's own
    decorator = re.compile(r"\s*@(\w+)\.(?:get|post|put|delete|patch)\(([^,)]*)")
    for module in source.glob("*.py"):
        text = module.read_text()
        constants = dict(re.findall(r'^([A-Z_0-9]+) = "(/[^"]*)"', text, re.MULTILINE))
        whole_router = "router = strict_router(include_in_schema=False)" in text
        for line in text.splitlines():
            match = decorator.match(line)
            if not match or not ("include_in_schema=False" in line or whole_router):
                continue
            parts = [p.strip() for p in match.group(2).split("+")]
            path = "".join(constants.get(p, p.strip('"')) for p in parts)
            hidden.add(path.replace("{name:path}", "{name}"))
    assert hidden == set(HIDDEN_ROUTES)
