"""The backbone: HTTP in, an answer out, one row in PostgreSQL, over the real broker."""

from __future__ import annotations

import asyncio
import json
import uuid

import aio_pika
import asyncpg

from schemas.messages import RouteCompleted
from shared.messaging.topology import DEAD_LETTER_EXCHANGE, EVENTS_EXCHANGE, ROUTE_COMPLETED_KEY
from shared.settings import Settings
from tests.system import RunningSystem


async def wait_for_rows(db: asyncpg.Pool, sql: str, *args: object, expected: int) -> int:
    """Poll until `sql` (a count) reaches `expected` or 10 s pass; returns the last count."""
    count = -1
    for _ in range(200):
        count = await db.fetchval(sql, *args)
        if count >= expected:
            return count
        await asyncio.sleep(0.05)
    return count


async def test_http_in_answer_out_one_row(system: RunningSystem, db: asyncpg.Pool) -> None:
    async with system.client() as client:
        response = await client.post(
            "/v1/route", json={"prompt": "Name three prime numbers.", "max_tokens": 50}
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["answer"].startswith("[simulated answer")
    assert body["provider"] == "simulated"
    assert body["tokens_in"] > 0 and body["tokens_out"] > 0
    assert body["cost_usd"] > 0
    assert response.headers["x-request-id"] == body["request_id"]
    request_id = uuid.UUID(body["request_id"])
    count = await wait_for_rows(
        db, "SELECT count(*) FROM routing_requests WHERE request_id = $1", request_id, expected=1
    )
    assert count == 1
    row = await db.fetchrow("SELECT * FROM routing_requests WHERE request_id = $1", request_id)
    assert row["model"] == body["model"]
    assert row["provider"] == "simulated"
    assert float(row["cost_usd"]) == round(body["cost_usd"], 10)
    assert row["prompt_preview"] is None, "prompts are not stored unless configured"
    assert "prime" not in row["prompt_hash"]


async def test_two_hundred_concurrent_requests_each_get_their_own_answer(
    system: RunningSystem, db: asyncpg.Pool
) -> None:
    prompts = [f"Question number {i}: what is {i} plus {i}?" for i in range(200)]
    async with system.client(limits=__import__("httpx").Limits(max_connections=200)) as client:
        responses = await asyncio.gather(
            *(client.post("/v1/route", json={"prompt": p, "max_tokens": 40}) for p in prompts)
        )
    assert [r.status_code for r in responses] == [200] * 200
    bodies = [r.json() for r in responses]
    ids = {uuid.UUID(b["request_id"]) for b in bodies}
    assert len(ids) == 200
    # Each answer is derived from its own prompt: a mixed-up reply would collide.
    assert len({b["answer"] for b in bodies}) == 200
    count = await wait_for_rows(
        db,
        "SELECT count(*) FROM routing_requests WHERE request_id = ANY($1::uuid[])",
        list(ids),
        expected=200,
    )
    assert count == 200


async def _publish(settings: Settings, body: bytes, *, exchange: str | None, routing_key: str):
    connection = await aio_pika.connect(settings.rabbitmq_url)
    try:
        channel = await connection.channel()
        target = (
            await channel.get_exchange(settings.name(exchange))
            if exchange
            else channel.default_exchange
        )
        await target.publish(
            aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key=routing_key,
        )
    finally:
        await connection.close()


def completed_event(tokens_out: int = 5) -> RouteCompleted:
    """A RouteCompleted as a router would publish it, for a request nobody made."""
    return RouteCompleted(
        request_id=uuid.uuid4(),
        ok=True,
        provider="simulated",
        model="simulated-fast",
        pattern="general",
        tokens_in=3,
        tokens_out=tokens_out,
        cost_usd=0.000001,
        prompt_hash="x" * 64,
    )


async def test_same_route_completed_twice_is_one_row(
    system: RunningSystem, settings: Settings, db: asyncpg.Pool
) -> None:
    event = completed_event()
    body = event.model_dump_json().encode()
    for _ in range(2):
        await _publish(settings, body, exchange=EVENTS_EXCHANGE, routing_key=ROUTE_COMPLETED_KEY)
    await wait_for_rows(
        db,
        "SELECT count(*) FROM routing_requests WHERE request_id = $1",
        event.request_id,
        expected=1,
    )
    await asyncio.sleep(0.5)  # give the second delivery time to be (not) stored
    assert (
        await db.fetchval(
            "SELECT count(*) FROM routing_requests WHERE request_id = $1", event.request_id
        )
        == 1
    )


async def _drain_dead(settings: Settings, queue_base: str, timeout: float = 10.0) -> list[bytes]:
    connection = await aio_pika.connect(settings.rabbitmq_url)
    bodies: list[bytes] = []
    try:
        channel = await connection.channel()
        queue = await channel.get_queue(settings.name(f"{queue_base}.dead"))
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            message = await queue.get(fail=False)
            if message is None:
                if bodies:
                    break
                await asyncio.sleep(0.1)
                continue
            bodies.append(message.body)
            await message.ack()
    finally:
        await connection.close()
    return bodies


async def test_malformed_message_is_dead_lettered_and_router_keeps_serving(
    system: RunningSystem, settings: Settings
) -> None:
    marker = uuid.uuid4().hex
    await _publish(
        settings,
        f"{{not json {marker}".encode(),
        exchange=None,
        routing_key=settings.name("route.requests"),
    )
    await _publish(
        settings,
        json.dumps({"marker": marker, "messages": "wrong type"}).encode(),
        exchange=None,
        routing_key=settings.name("route.requests"),
    )
    dead = await _drain_dead(settings, "route.requests")
    assert sum(marker.encode() in body for body in dead) == 2
    async with system.client() as client:
        response = await client.post("/v1/route", json={"prompt": "still there?"})
    assert response.status_code == 200
    assert DEAD_LETTER_EXCHANGE  # the DLX exists by name in the topology


async def test_timeout_is_504_and_bad_body_is_422_naming_the_field(
    system: RunningSystem,
) -> None:
    async with system.client() as client:
        bad = await client.post("/v1/route", json={"prompt": "hi", "max_tokens": "lots"})
        assert bad.status_code == 422
        assert "max_tokens" in bad.json()["error"]["message"]
        assert "lots" not in bad.text, "input values are not echoed"
    # No router consumes this namespace's queue: the ingress must give up with a 504.
    settings = system.settings.model_copy(update={"request_timeout_s": 0.5})
    from tests.conftest import free_port
    from tests.system import start_system

    lonely = await start_system(
        settings.model_copy(update={"amqp_prefix": settings.amqp_prefix + "lonely."}),
        free_port(),
        workers=(),
    )
    try:
        async with lonely.client() as client:
            response = await client.post("/v1/route", json={"prompt": "anyone?"})
        assert response.status_code == 504
        assert response.json()["error"]["type"] == "timeout"
    finally:
        await lonely.stop()
        from tests.conftest import delete_namespace

        await delete_namespace(settings.rabbitmq_url, settings.amqp_prefix + "lonely.")


async def test_preview_shows_the_pattern_probabilities(system: RunningSystem) -> None:
    async with system.client() as client:
        response = await client.post(
            "/v1/route/preview",
            json={"prompt": "Write a short poem about autumn leaves.", "max_tokens": 50},
        )
    assert response.status_code == 200, response.text
    body = response.json()
    probabilities = body["pattern_probabilities"]
    assert abs(sum(probabilities.values()) - 1.0) < 1e-3
    assert body["pattern"] == max(probabilities, key=probabilities.get) == "creative"
    assert 0.0 <= body["failure_share"] <= 1.0
    assert body["signals"][0].startswith("p:creative=")
