"""A vendor reporting absurd usage (issue 17): the caller gets the answer, once, and it has a row.

Before, -5 tokens crashed the router's cost counter: the request was redelivered until it was
dead-lettered (the vendor called 6 times, the caller waited for a 504), and 10^12 tokens gave a
200 costed at $2.8M whose completion event could not be stored.
"""

from __future__ import annotations

import uuid

import pytest

from tests.fakes.vendor_server import Reply, running_vendor_server, success_body
from tests.integration.test_request_path import wait_for_rows
from tests.integration.vendor_system import vendor_system

VENDORS = ("anthropic", "google", "openrouter")


@pytest.fixture(scope="module")
def vendor():
    with running_vendor_server() as fake:
        yield fake


@pytest.fixture(scope="module")
async def system_and_db(service_urls, vendor):
    async with vendor_system(service_urls, vendor) as running:
        yield running


def _reporting(vendor: str, tokens: int) -> Reply:
    body = success_body(vendor, "any-model", "the answer")
    if vendor == "anthropic":
        body["usage"] = {"input_tokens": tokens, "output_tokens": tokens}
    elif vendor == "google":
        body["usageMetadata"] = {"promptTokenCount": tokens, "candidatesTokenCount": tokens}
    else:
        body["usage"] = {"prompt_tokens": tokens, "completion_tokens": tokens}
    return Reply(body=body)


@pytest.mark.parametrize("tokens", [-5, 10**12])
async def test_absurd_usage_is_answered_once_and_recorded_with_an_estimate(
    system_and_db, vendor, tokens
) -> None:
    running, pool = system_and_db
    vendor.reset()
    for name in VENDORS:
        vendor.enqueue(name, _reporting(name, tokens))
    async with running.client() as client:
        response = await client.post(
            "/v1/route", json={"prompt": "Say hello to the tester.", "max_tokens": 64}
        )
    calls = len(vendor.received)
    vendor.reset()
    assert response.status_code == 200, response.text
    body = response.json()
    assert calls == 1, "one vendor call: no redelivery, no retry"
    assert 0 < body["tokens_in"] < 100 and 0 < body["tokens_out"] < 100
    assert 0 < body["cost_usd"] < 0.01
    request_id = uuid.UUID(body["request_id"])
    found = await wait_for_rows(
        pool, "SELECT count(*) FROM routing_requests WHERE request_id = $1", request_id, expected=1
    )
    assert found == 1, "the answered request has its row"
    row = await pool.fetchrow(
        "SELECT tokens_in, tokens_out, cost_usd FROM routing_requests WHERE request_id = $1",
        request_id,
    )
    assert (row["tokens_in"], row["tokens_out"]) == (body["tokens_in"], body["tokens_out"])
