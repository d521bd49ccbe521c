"""Size limits, requests per minute and daily budgets, through the running system."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from schemas.messages import ChatMessage, RouteRequest
from services.ingress.limits import cost_bound
from shared.routing.catalog import load_catalog
from shared.settings import Settings
from tests.integration.auth_support import SecuredSystem, secured_system

PROMPT = {"prompt": "What is two plus two?", "max_tokens": 30}


@pytest.fixture(scope="module")
async def secured(settings: Settings) -> AsyncIterator[SecuredSystem]:
    async with secured_system(settings) as system:
        yield system


async def _spend(secured: SecuredSystem, key_id: str) -> tuple[float, int]:
    row = await secured.pool.fetchrow(
        "SELECT coalesce(sum(spent_usd), 0) AS spent, coalesce(sum(requests), 0) AS n "
        "FROM api_key_daily_spend WHERE api_key_id = $1",
        key_id,
    )
    return float(row["spent"]), int(row["n"])


async def _settled(secured: SecuredSystem, key_id: str, requests: int) -> float:
    """Wait until `requests` completions of the key are recorded; their total cost."""
    for _ in range(200):
        spent, n = await _spend(secured, key_id)
        if n >= requests:
            return spent
        await asyncio.sleep(0.05)
    raise AssertionError(f"only {n} of {requests} completions recorded")


async def _one_model(secured: SecuredSystem, body: dict) -> tuple[dict, float]:
    """`body` forced to the model auto-routing picks for it, and what one answer costs.

    The budget arithmetic below assumes every request costs the same; forcing the model keeps
    it so whatever the learner publishes to the session's routers meanwhile (overrides, a
    quality model whose exploration picks cheaper models)."""
    _, probe = await secured.key()
    async with secured.client(probe) as client:
        chosen = (await client.post("/v1/route", json=body)).json()["model"]
        forced = {**body, "constraints": {"model": chosen}}
        cost = (await client.post("/v1/route", json=forced)).json()["cost_usd"]
    assert cost > 0
    return forced, cost


async def test_size_limits_say_which_limit(secured: SecuredSystem) -> None:
    _, key = await secured.key()
    settings = secured.settings
    async with secured.client(key) as client:
        huge = await client.post(
            "/v1/route", content=b'{"prompt": "' + b"x" * (settings.max_body_bytes + 10) + b'"}'
        )
        assert huge.status_code == 413
        assert "MAX_BODY_BYTES" in huge.json()["error"]["message"]
        long_prompt = {"prompt": "y" * (settings.max_prompt_chars + 1)}
        too_long = await client.post("/v1/route", json=long_prompt)
        assert too_long.status_code == 413
        assert too_long.json()["error"]["type"] == "prompt_too_long"
        assert "MAX_PROMPT_CHARS" in too_long.json()["error"]["message"]
        assert "yyyy" not in too_long.text
        many_tokens = {"prompt": "hi", "max_tokens": settings.max_tokens_limit + 1}
        refused = await client.post("/v1/route", json=many_tokens)
        assert refused.status_code == 422
        assert "MAX_TOKENS_LIMIT" in refused.json()["error"]["message"]
        chat = await client.post(
            "/v1/chat/completions",
            json={
                "model": "auto",
                "messages": [{"role": "user", "content": "hi"}],
                "max_tokens": 30000,
            },
        )
        assert chat.status_code == 422 and "MAX_TOKENS_LIMIT" in chat.text


async def test_requests_per_minute_then_429_with_retry_after(secured: SecuredSystem) -> None:
    _, key = await secured.key(rpm=3)
    async with secured.client(key) as client:
        statuses = [(await client.post("/v1/route", json=PROMPT)).status_code for _ in range(3)]
        assert statuses == [200, 200, 200]
        limited = await client.post("/v1/route", json=PROMPT)
    assert limited.status_code == 429
    assert limited.json()["error"]["type"] == "rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 20


async def test_daily_budget_counts_real_cost_and_refuses_until_tomorrow(
    secured: SecuredSystem,
) -> None:
    body, cost = await _one_model(secured, PROMPT)
    key_id, key = await secured.key(budget=2.5 * cost)
    admitted = 0
    async with secured.client(key) as client:
        for _ in range(10):
            response = await client.post("/v1/route", json=body)
            if response.status_code != 200:
                break
            admitted += 1
            await _settled(secured, key_id, admitted)  # the reservation becomes the real cost
    assert admitted == 3, "spent 0, c, 2c < 2.5c are admitted; 3c is not"
    assert response.status_code == 429
    assert response.json()["error"]["type"] == "budget_exceeded"
    assert int(response.headers["retry-after"]) > 2, "until the next UTC day"
    spent, _ = await _spend(secured, key_id)
    assert spent <= 2.5 * cost + cost


async def test_concurrent_requests_overrun_the_budget_by_at_most_one_request(
    secured: SecuredSystem,
) -> None:
    # One cheap model allowed: the reservation below still assumes the priciest model of the
    # catalog (only a forced model narrows it), while every answer costs the same small amount
    # whatever quality model an earlier test of the run left active in the database.
    body = {
        "prompt": "Concurrent question: what is the capital of Peru?",
        "max_tokens": 40,
        "constraints": {"allowed_models": ["simulated-fast"]},
    }
    _, probe = await secured.key()
    async with secured.client(probe) as client:
        answer = (await client.post("/v1/route", json=body)).json()
    assert answer["model"] == "simulated-fast", answer
    cost = answer["cost_usd"]
    reservation = cost_bound(
        load_catalog(),
        RouteRequest(messages=[ChatMessage(role="user", content=body["prompt"])], max_tokens=40),
    )
    assert reservation > 3 * cost, "the bound assumes the priciest model and all of max_tokens"
    budget = 3 * cost
    key_id, key = await secured.key(budget=budget)
    async with secured.client(key, limits=httpx.Limits(max_connections=60)) as client:
        responses = await asyncio.gather(*(client.post("/v1/route", json=body) for _ in range(60)))
    codes = [r.status_code for r in responses]
    admitted = codes.count(200)
    assert set(codes) <= {200, 429}
    # Without reservations all 60 would see spent = 0 and pass. With them, one request at a
    # time holds more than the whole budget, and spent 0, c, 2c < 3c admit at most three.
    assert 1 <= admitted <= 3, codes
    spent = await _settled(secured, key_id, admitted)
    # Over by at most one request.
    assert spent <= budget + reservation
    kinds = {r.json()["error"]["type"] for r in responses if r.status_code == 429}
    assert kinds == {"budget_exceeded"}
    held = [r for r in responses if "in flight" in r.text]
    assert all(r.headers["retry-after"] == "2" for r in held), "soon, not tomorrow"


async def test_cors_allows_only_configured_origins(secured: SecuredSystem) -> None:
    async with secured.client() as client:
        response = await client.options(
            "/v1/route",
            headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
        )
    assert "access-control-allow-origin" not in response.headers
