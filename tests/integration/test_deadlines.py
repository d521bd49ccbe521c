"""Deadlines and cancels: no provider is called for a caller who has gone (issue 16)."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import openai
import pytest

from schemas.messages import ChatMessage, RouteRequest
from shared.messaging.client import OptimizerClient
from shared.messaging.topology import ROUTE_REQUESTS
from tests.fakes.vendor_server import FakeVendorServer, running_vendor_server
from tests.integration.test_request_path import wait_for_rows
from tests.integration.vendor_system import vendor_system
from tests.system import RunningSystem

QUESTION = "Summarize the plot of Hamlet in two sentences."


@pytest.fixture(scope="module")
def vendor() -> AsyncIterator[FakeVendorServer]:
    with running_vendor_server() as fake:
        yield fake  # type: ignore[misc]


@pytest.fixture(scope="module")
async def running(
    service_urls: tuple[str, str], vendor: FakeVendorServer
) -> AsyncIterator[tuple[RunningSystem, asyncpg.Pool]]:
    # A provider timeout far longer than the caller's, so only a cancel can end a hung call.
    async with vendor_system(service_urls, vendor, provider_timeout_s=20.0) as pair:
        yield pair


async def _row(pool: asyncpg.Pool, request_id: uuid.UUID) -> asyncpg.Record:
    await wait_for_rows(
        pool, "SELECT count(*) FROM routing_requests WHERE request_id = $1", request_id, expected=1
    )
    row = await pool.fetchrow("SELECT * FROM routing_requests WHERE request_id = $1", request_id)
    assert row is not None, "the request was not recorded"
    return row


async def test_a_bus_request_past_its_deadline_is_recorded_expired_and_never_executed(
    running: tuple[RunningSystem, asyncpg.Pool], vendor: FakeVendorServer
) -> None:
    system, pool = running
    vendor.reset()
    request = RouteRequest(
        messages=[ChatMessage(role="user", content=QUESTION)],
        max_tokens=32,
        deadline_at=datetime.now(UTC) - timedelta(seconds=1),
    )
    settings = system.settings
    async with OptimizerClient(settings.rabbitmq_url, settings.amqp_prefix, timeout_s=10) as bus:
        reply = await bus.call(ROUTE_REQUESTS, request.model_dump_json().encode())
    assert reply["ok"] is False and reply["error_kind"] == "expired"
    row = await _row(pool, request.request_id)
    assert row["status"] == "expired" and row["provider"] is None and row["cost_usd"] == 0
    assert vendor.received == [], "a provider was called for an expired request"


async def test_a_caller_timeout_cancels_the_hung_provider_call(
    running: tuple[RunningSystem, asyncpg.Pool], vendor: FakeVendorServer
) -> None:
    system, pool = running
    vendor.reset()
    for name in ("anthropic", "google", "openrouter"):
        vendor.hang(name, 30.0)  # type: ignore[arg-type]
    client = openai.AsyncOpenAI(
        api_key="unused", base_url=f"{system.base_url}/v1", max_retries=0, timeout=30
    )
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as caught:
        # The caller's own wait (1 s) becomes the request's deadline.
        await client.chat.completions.create(
            model="auto",
            messages=[{"role": "user", "content": QUESTION}],
            max_tokens=32,
            extra_headers={"X-Request-Timeout": "1"},
        )
    waited = time.monotonic() - started
    await client.close()
    assert caught.value.status_code == 504 and waited < 5
    request_id = uuid.UUID(caught.value.response.json()["error"]["request_id"])
    row = await _row(pool, request_id)
    # Recorded as cancelled long before the provider's own 20 s timeout: the call was stopped.
    assert row["status"] == "cancelled", dict(row)
    assert time.monotonic() - started < 8
    assert len(vendor.received) == 1, "the router went on to another model after the cancel"
    vendor.reset()
