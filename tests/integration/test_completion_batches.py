"""RouteCompletedBatch on the real broker and database: stored once each, or dead-lettered."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import httpx

from schemas.messages import RouteCompletedBatch
from services.router.completions import batch_body
from shared.messaging.topology import (
    EVENTS_EXCHANGE,
    ROUTE_COMPLETED_BATCH_KEY,
    ROUTE_COMPLETED_KEY,
)
from shared.metrics import COMPLETION_GROUP_SIZE
from shared.settings import Settings
from tests.integration.test_request_path import (
    _drain_dead,
    _publish,
    completed_event,
    wait_for_rows,
)
from tests.system import RunningSystem

COUNT_IDS = "SELECT count(*) FROM routing_requests WHERE request_id = ANY($1::uuid[])"


async def test_a_batch_is_stored_once_per_request_even_redelivered_and_overlapping(
    system: RunningSystem, settings: Settings, db: asyncpg.Pool
) -> None:
    alone, *grouped = [completed_event(tokens_out=i + 1) for i in range(5)]
    await _publish(
        settings,
        alone.model_dump_json().encode(),
        exchange=EVENTS_EXCHANGE,
        routing_key=ROUTE_COMPLETED_KEY,
    )
    # The batch repeats the lone event (a router that requeued and re-answered) and is itself
    # delivered twice (at-least-once).
    body = batch_body([e.model_dump_json().encode() for e in [alone, *grouped]])
    for _ in range(2):
        await _publish(
            settings, body, exchange=EVENTS_EXCHANGE, routing_key=ROUTE_COMPLETED_BATCH_KEY
        )
    ids = [e.request_id for e in [alone, *grouped]]
    assert await wait_for_rows(db, COUNT_IDS, ids, expected=5) == 5
    await asyncio.sleep(0.5)  # time for the second delivery to be (not) stored
    assert await db.fetchval(COUNT_IDS, ids) == 5
    rows = await db.fetch(
        "SELECT request_id, tokens_out FROM routing_requests WHERE request_id = ANY($1::uuid[])",
        ids,
    )
    assert {r["request_id"]: r["tokens_out"] for r in rows} == {
        e.request_id: e.tokens_out for e in [alone, *grouped]
    }


async def test_a_batch_with_one_bad_event_is_dead_lettered_whole(
    system: RunningSystem, settings: Settings, db: asyncpg.Pool
) -> None:
    good = completed_event()
    marker = uuid.uuid4().hex
    bad = b'{"request_id": "' + marker.encode() + b'", "ok": "perhaps"}'
    body = batch_body([good.model_dump_json().encode(), bad])
    await _publish(settings, body, exchange=EVENTS_EXCHANGE, routing_key=ROUTE_COMPLETED_BATCH_KEY)
    dead = await _drain_dead(settings, "feedback.completions")
    assert sum(marker.encode() in d for d in dead) == 1
    assert await db.fetchval(COUNT_IDS, [good.request_id]) == 0, "nothing of it stored"
    # The consumer goes on: the next batch is stored.
    after = [completed_event(), completed_event()]
    await _publish(
        settings,
        RouteCompletedBatch(events=after).model_dump_json().encode(),
        exchange=EVENTS_EXCHANGE,
        routing_key=ROUTE_COMPLETED_BATCH_KEY,
    )
    assert await wait_for_rows(db, COUNT_IDS, [e.request_id for e in after], expected=2) == 2


def _group_counts() -> tuple[float, float]:
    """(publishes, events) observed by the in-process routers' group-size histogram."""
    samples = {s.name: s.value for s in next(iter(COMPLETION_GROUP_SIZE.collect())).samples}
    return samples["optimizer_completion_group_size_count"], samples[
        "optimizer_completion_group_size_sum"
    ]


async def test_under_concurrency_the_router_groups_events_and_loses_none(
    system: RunningSystem, db: asyncpg.Pool
) -> None:
    publishes_before, events_before = _group_counts()
    async with system.client(limits=httpx.Limits(max_connections=100)) as client:
        responses = await asyncio.gather(
            *(
                client.post("/v1/route", json={"prompt": f"Add {i} and {i}.", "max_tokens": 20})
                for i in range(100)
            )
        )
    assert [r.status_code for r in responses] == [200] * 100
    ids = [uuid.UUID(r.json()["request_id"]) for r in responses]
    assert await wait_for_rows(db, COUNT_IDS, ids, expected=100) == 100
    publishes, events = _group_counts()
    assert events - events_before == 100, "every answered request's event was confirmed"
    assert publishes - publishes_before < 100, "some events shared a publish"
    print(f"\n100 concurrent requests: {publishes - publishes_before:.0f} confirmed publishes")
