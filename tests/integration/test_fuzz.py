"""Schemathesis against the ingress's own OpenAPI document: no generated input gets a 5xx.

Valid (positive) and invalid (negative) inputs for every operation, sent with an admin key to
the running system over the real broker and database. Bounded: a few examples per operation
and mode, about 20 s in all. Requests run in a thread, since schemathesis calls are blocking
and the services share this test's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
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
