"""Ratings under abuse (issue 17): an rpm=5 key posted 300 ratings on made-up request ids, and
all 300 stayed parked in pending_feedback forever. Ratings are now rate limited per key, in a
bucket of their own, and parked ratings expire after PENDING_FEEDBACK_TTL_S."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from shared.settings import Settings
from tests.integration.auth_support import SecuredSystem, secured_system

RPM = 5
TTL_S = 1.0


@pytest.fixture(scope="module")
async def secured(settings: Settings) -> AsyncIterator[SecuredSystem]:
    async with secured_system(
        settings, feedback_grace_s=0.05, pending_feedback_ttl_s=TTL_S
    ) as system:
        yield system


async def test_ratings_are_rate_limited_per_key_apart_from_requests(
    secured: SecuredSystem,
) -> None:
    _, key = await secured.key("client", rpm=RPM)
    async with secured.client(key) as client:
        statuses = []
        for _ in range(3 * RPM):
            response = await client.post(
                "/production/feedback",
                json={"request_id": str(uuid.uuid4()), "quality_score": 4},
            )
            statuses.append(response.status_code)
        limited = response
        # Ratings did not use up the key's requests: they have a bucket of their own.
        answered = await client.post("/v1/route", json={"prompt": "Name a prime number."})
    assert statuses[:RPM] == [404] * RPM, statuses
    assert set(statuses[RPM:]) == {429}, statuses
    assert limited.json()["error"]["type"] == "rate_limited"
    assert "ratings per minute" in limited.json()["error"]["message"]
    assert int(limited.headers["retry-after"]) >= 1
    assert answered.status_code == 200, answered.text


async def test_parked_ratings_expire(secured: SecuredSystem) -> None:
    _, admin = await secured.key("admin")
    made_up = uuid.uuid4()
    async with secured.client(admin) as client:
        response = await client.post(
            "/production/feedback", json={"request_id": str(made_up), "quality_score": 2}
        )
    assert response.status_code == 404
    sql = "SELECT count(*) FROM pending_feedback WHERE request_id = $1"
    assert await secured.pool.fetchval(sql, made_up) == 1, "parked at first"
    remaining = 1
    for _ in range(100):  # the sweep runs every TTL/2: gone within about 1.5 x TTL
        await asyncio.sleep(0.1)
        remaining = await secured.pool.fetchval(sql, made_up)
        if remaining == 0:
            break
    assert remaining == 0, "a rating whose request never came is not kept forever"
