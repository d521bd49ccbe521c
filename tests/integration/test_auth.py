"""API keys over the real bus and database: 401 / 403, feedback ownership, revocation, the CLI."""

from __future__ import annotations

import asyncio
import base64
import os
import sys
import uuid
from collections.abc import AsyncIterator

import aio_pika
import asyncpg
import pytest

from schemas.messages import RouteCompleted, SubmitFeedback
from services.ledger import access_store
from shared.settings import Settings
from tests.integration.auth_support import SecuredSystem, secured_system
from tests.integration.test_request_path import wait_for_rows

PROMPT = {"prompt": "Name three prime numbers.", "max_tokens": 40}


@pytest.fixture(scope="module")
async def secured(settings: Settings) -> AsyncIterator[SecuredSystem]:
    async with secured_system(settings) as system:
        yield system


async def test_health_says_auth_is_on_and_public_documents_need_no_key(
    secured: SecuredSystem,
) -> None:
    async with secured.client() as client:
        health = await client.get("/health")
        assert health.json()["auth"]["enabled"] is True
        for path in ("/openapi.json", "/schemas", "/schemas/RouteRequest.json", "/asyncapi.json"):
            assert (await client.get(path)).status_code == 200, path


async def test_the_dashboard_styles_and_scripts_need_no_key(secured: SecuredSystem) -> None:
    # A browser given http://x:KEY@host/dashboard does not repeat the key for these.
    async with secured.client() as client:
        for name in ("dashboard.css", "dashboard.js", "vendor/chart.umd.min.js"):
            response = await client.get(f"/dashboard/static/{name}")
            assert response.status_code == 200, name
            assert "www-authenticate" not in response.headers
        page = await client.get("/dashboard", headers={"accept": "text/html"})
        assert page.status_code == 401, "the page itself still needs the admin key"
        assert (await client.get("/docs")).status_code == 200


async def test_missing_or_wrong_key_is_401_and_never_echoed(secured: SecuredSystem) -> None:
    _, key = await secured.key()
    wrong = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    async with secured.client() as client:
        for headers in ({}, {"authorization": f"Bearer {wrong}"}, {"authorization": "Bearer x"}):
            response = await client.post("/v1/route", json=PROMPT, headers=headers)
            assert response.status_code == 401, headers
            assert response.json()["error"]["type"] == "unauthorized"
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert wrong not in response.text
        # An invalid body does not get past the key check either.
        bad = await client.post("/v1/route", json={"prompt": ""})
        assert bad.status_code == 401


async def test_client_key_routes_and_owns_its_rows_but_is_403_on_admin(
    secured: SecuredSystem,
) -> None:
    key_id, key = await secured.key("client")
    async with secured.client(key) as client:
        answered = await client.post("/v1/route", json=PROMPT)
        assert answered.status_code == 200, answered.text
        admin = await client.get("/admin/feedback/summary")
        assert admin.status_code == 403
        assert admin.json()["error"]["type"] == "forbidden"
    request_id = uuid.UUID(answered.json()["request_id"])
    await wait_for_rows(
        secured.pool,
        "SELECT count(*) FROM routing_requests WHERE request_id = $1",
        request_id,
        expected=1,
    )
    owner = await secured.pool.fetchval(
        "SELECT api_key_id FROM routing_requests WHERE request_id = $1", request_id
    )
    assert owner == key_id


async def test_admin_key_reaches_admin_endpoints_also_as_basic_auth(
    secured: SecuredSystem,
) -> None:
    _, key = await secured.key("admin")
    async with secured.client(key) as client:
        assert (await client.get("/admin/feedback/summary")).status_code == 200
    basic = base64.b64encode(f"operator:{key}".encode()).decode()
    async with secured.client() as client:
        response = await client.get(
            "/admin/feedback/summary", headers={"authorization": f"Basic {basic}"}
        )
        assert response.status_code == 200
        browser = await client.get("/admin/feedback/summary", headers={"accept": "text/html"})
        assert browser.status_code == 401
        assert browser.headers["www-authenticate"].startswith("Basic")


async def test_feedback_only_by_the_key_that_made_the_request_or_an_admin(
    secured: SecuredSystem,
) -> None:
    _, owner = await secured.key("client")
    _, other = await secured.key("client")
    _, admin = await secured.key("admin")
    async with secured.client(owner) as client:
        request_id = (await client.post("/v1/route", json=PROMPT)).json()["request_id"]
    rating = {"request_id": request_id, "quality_score": 4, "is_correct": True}
    async with secured.client(other) as client:
        refused = await client.post("/production/feedback", json=rating)
        assert refused.status_code == 403, refused.text
    async with secured.client(owner) as client:
        created = await client.post("/production/feedback", json=rating)
        assert created.status_code == 200 and created.json()["status"] == "created"
    async with secured.client(admin) as client:
        updated = await client.post("/production/feedback", json={**rating, "quality_score": 2})
        assert updated.status_code == 200 and updated.json()["status"] == "updated"


async def test_feedback_parked_with_another_key_is_not_attached_later(
    secured: SecuredSystem,
) -> None:
    """Bus feedback may arrive before its request: it is kept, but only its owner's counts."""
    settings = secured.settings
    mine, theirs = uuid.uuid4(), uuid.uuid4()
    connection = await aio_pika.connect(settings.rabbitmq_url)
    try:
        channel = await connection.channel()
        for request_id, key_id in ((mine, "key_owner"), (theirs, "key_intruder")):
            feedback = SubmitFeedback(request_id=request_id, quality_score=1, api_key_id=key_id)
            await channel.default_exchange.publish(
                aio_pika.Message(feedback.model_dump_json().encode()),
                routing_key=settings.name("feedback.submissions"),
            )
        await wait_for_rows(
            secured.pool,
            "SELECT count(*) FROM pending_feedback WHERE request_id = ANY($1::uuid[])",
            [mine, theirs],
            expected=2,
        )
        events = await channel.get_exchange(settings.name("optimizer.events"))
        for request_id in (mine, theirs):
            event = RouteCompleted(
                request_id=request_id, ok=True, prompt_hash="0" * 64, api_key_id="key_owner"
            )
            await events.publish(
                aio_pika.Message(event.model_dump_json().encode()), routing_key="route.completed"
            )
    finally:
        await connection.close()
    await wait_for_rows(
        secured.pool,
        "SELECT count(*) FROM routing_requests WHERE request_id = ANY($1::uuid[])",
        [mine, theirs],
        expected=2,
    )
    rated = await secured.pool.fetch(
        "SELECT request_id FROM production_feedback WHERE request_id = ANY($1::uuid[])",
        [mine, theirs],
    )
    assert [r["request_id"] for r in rated] == [mine]


async def test_a_revoked_key_stops_working_within_the_cache_ttl(secured: SecuredSystem) -> None:
    key_id, key = await secured.key("client")
    async with secured.client(key) as client:
        assert (await client.post("/v1/route", json=PROMPT)).status_code == 200
        assert await access_store.revoke_key(secured.pool, key_id)
        await asyncio.sleep(secured.settings.auth_cache_ttl_s + 0.1)
        response = await client.post("/v1/route", json=PROMPT)
        assert response.status_code == 401
        assert "revoked" in response.json()["error"]["message"]


async def _cli(settings_db: str, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "DATABASE_URL": settings_db}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.cli",
        "keys",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    return process.returncode or 0, out.decode(), err.decode()


async def test_cli_creates_a_key_shown_once_lists_and_revokes_it(
    secured: SecuredSystem, db: asyncpg.Pool
) -> None:
    url = secured.settings.database_url
    code, out, err = await _cli(
        url,
        "create",
        "--scope",
        "client",
        "--name",
        "cli-test",
        "--rpm",
        "7",
        "--daily-budget-usd",
        "1.5",
    )
    assert code == 0, err
    key_id = out.split()[3]
    key = out.strip().splitlines()[1]
    assert key.startswith("aco_") and "only time" in err
    stored = await db.fetchrow("SELECT * FROM api_keys WHERE id = $1", key_id)
    assert stored["scope"] == "client" and stored["rpm_limit"] == 7
    assert float(stored["daily_budget_usd"]) == 1.5
    assert key not in str(dict(stored)), "only the hash is stored"
    async with secured.client(key) as client:
        assert (await client.post("/v1/route", json=PROMPT)).status_code == 200
    code, out, _ = await _cli(url, "list")
    assert code == 0 and key_id in out and "cli-test" in out and key not in out
    assert (await _cli(url, "revoke", key_id))[0] == 0
    code, _, err = await _cli(url, "revoke", key_id)
    assert code == 1 and "already revoked" in err


async def test_cli_sets_updates_and_clears_a_keys_model_rules(
    secured: SecuredSystem, db: asyncpg.Pool
) -> None:
    url = secured.settings.database_url
    code, out, err = await _cli(
        url,
        "create",
        "--scope",
        "client",
        "--allowed-models",
        "gemini-2.5-flash,claude-haiku-4-5",
        "--min-quality",
        "0.85",
        "--quality-target",
        "0.9",
        "--max-cost-per-request-usd",
        "0.01",
    )
    assert code == 0, err
    key_id = out.split()[3]
    stored = await db.fetchrow("SELECT * FROM api_keys WHERE id = $1", key_id)
    assert stored["allowed_models"] == ["gemini-2.5-flash", "claude-haiku-4-5"]
    assert float(stored["min_quality"]) == 0.85
    assert float(stored["quality_target"]) == 0.9
    found = await access_store.find_key(db, stored["key_hash"])
    assert found is not None and found.quality_target == 0.9
    assert float(stored["max_cost_per_request_usd"]) == 0.01
    code, _, err = await _cli(
        url, "update", key_id, "--allowed-models", "none", "--allowed-providers", "nowhere"
    )
    assert code == 0, err
    assert "nowhere is not in the catalog" in err
    stored = await db.fetchrow("SELECT * FROM api_keys WHERE id = $1", key_id)
    assert stored["allowed_models"] is None and stored["allowed_providers"] == ["nowhere"]
    code, out, _ = await _cli(url, "list")
    assert code == 0 and "providers=nowhere" in out
    assert (await _cli(url, "update", "key_000000000000", "--rpm", "5"))[0] == 1
