"""Issue 3 end to end: HTTP in, the bus, a real SDK against a failing fake vendor, and the
PostgreSQL row that shows the fallback path, attempts and the cost."""

from __future__ import annotations

import uuid

import pytest

from shared.storage.db import create_pool
from tests.conftest import free_port, isolated_settings
from tests.fakes.vendor_server import TOKENS_IN, TOKENS_OUT, running_vendor_server
from tests.integration.test_request_path import wait_for_rows
from tests.system import start_system


@pytest.fixture(scope="module")
def vendor():
    with running_vendor_server() as fake:
        yield fake


@pytest.fixture(scope="module")
async def vendor_system(service_urls, vendor):
    overrides = {
        "anthropic_api_key": "test-anthropic-key",
        "google_api_key": "test-google-key",
        "openrouter_api_key": "test-openrouter-key",
        "anthropic_base_url": vendor.url,
        "gemini_base_url": vendor.url,
        "openrouter_base_url": f"{vendor.url}/api/v1",
        "provider_timeout_s": 1.0,
        "request_deadline_s": 8.0,
        "retry_base_delay_s": 0.01,
        "max_attempts_per_model": 2,
    }
    async with isolated_settings(service_urls, "fb" + uuid.uuid4().hex[:6], **overrides) as s:
        running = await start_system(s, free_port())
        yield running
        await running.stop()


async def test_overloaded_provider_falls_over_and_the_row_shows_path_and_cost(
    vendor_system, vendor
) -> None:
    vendor.reset()
    prompt = {"prompt": "Summarize the plot of Hamlet in two sentences."}
    async with vendor_system.client() as client:
        preview = (await client.post("/v1/route/preview", json=prompt)).json()
        first = preview["provider"]
        # The chosen vendor is overloaded (529 for Anthropic, 503 for the others).
        vendor.fail(first, 529 if first == "anthropic" else 503, times=10)
        response = await client.post("/v1/route", json=prompt)
    vendor.reset()
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["provider"] != first
    assert body["fallback_path"][0]["provider"] == first
    assert body["fallback_path"][0]["model"] == preview["model"]
    assert body["fallback_path"][0]["reason"] in ("overloaded", "server_error")
    assert body["attempts"] == 3  # two on the overloaded model, one that answered
    pool = await create_pool(vendor_system.settings.database_url)
    try:
        request_id = uuid.UUID(body["request_id"])
        await wait_for_rows(
            pool,
            "SELECT count(*) FROM routing_requests WHERE request_id = $1",
            request_id,
            expected=1,
        )
        row = await pool.fetchrow(
            "SELECT * FROM routing_requests WHERE request_id = $1", request_id
        )
    finally:
        await pool.close()
    assert row["provider"] == "google" and row["model"] == body["model"]
    assert row["fallback_path"] == body["fallback_path"]
    assert row["attempts"] == 3
    assert (row["tokens_in"], row["tokens_out"]) == (TOKENS_IN, TOKENS_OUT)
    from shared.routing.catalog import load_catalog

    expected = load_catalog().get(body["model"]).cost(TOKENS_IN, TOKENS_OUT)
    assert float(row["cost_usd"]) == pytest.approx(expected, rel=1e-6)
    assert float(row["cost_usd"]) > 0


async def test_every_provider_failing_is_an_error_reply_with_every_reason(
    vendor_system, vendor
) -> None:
    vendor.reset()
    for name in ("anthropic", "google", "openrouter"):
        vendor.fail(name, 500, times=50)
    async with vendor_system.client() as client:
        response = await client.post("/v1/route", json={"prompt": "Say hi."})
    vendor.reset()
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["type"] == "all_models_failed"
    hops = error["fallback_path"]
    assert len(hops) >= 2 and all(h["reason"] == "server_error" for h in hops if h["attempts"])
    for hop in hops:
        assert hop["model"] not in error["message"], "the message names no internals"
