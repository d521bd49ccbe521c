"""Context vectors stored per request over the real broker and database: float16, once per
request, never text, and deleted after FEATURE_RETENTION_DAYS."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import numpy as np

from services.ledger.service import LedgerService
from shared.messaging.topology import EVENTS_EXCHANGE, ROUTE_COMPLETED_KEY
from shared.routing.stored_features import decode_features, encode_features
from shared.settings import Settings
from tests.integration.test_request_path import _publish, completed_event, wait_for_rows
from tests.system import RunningSystem

FEATURES = "SELECT count(*) FROM request_features WHERE request_id = ANY($1::uuid[])"


async def test_features_are_stored_once_as_float16_without_text(
    system: RunningSystem, settings: Settings, db: asyncpg.Pool
) -> None:
    vector = np.array([0.125, 0.5, 1.0, 3.25, -2.0, 0.3333], dtype=np.float32)
    event = completed_event().model_copy(
        update={"features": encode_features(vector), "context_version": 7}
    )
    body = event.model_dump_json().encode()
    for _ in range(2):  # redelivered: still one row
        await _publish(settings, body, exchange=EVENTS_EXCHANGE, routing_key=ROUTE_COMPLETED_KEY)
    assert await wait_for_rows(db, FEATURES, [event.request_id], expected=1) == 1
    await asyncio.sleep(0.3)
    assert await db.fetchval(FEATURES, [event.request_id]) == 1
    row = await db.fetchrow(
        "SELECT features, context_version, created_at FROM request_features WHERE request_id = $1",
        event.request_id,
    )
    assert row["context_version"] == 7
    assert len(row["features"]) == 2 * vector.size, "two bytes a number"
    # float16 keeps ~3 significant digits: exact for these, within 1e-3 for a third.
    np.testing.assert_allclose(decode_features(row["features"]), vector, rtol=1e-3)
    assert row["created_at"] == event.created_at
    columns = await db.fetch(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = 'request_features'"
    )
    assert {c["column_name"]: c["data_type"] for c in columns} == {
        "request_id": "uuid",
        "created_at": "timestamp with time zone",
        "context_version": "smallint",
        "features": "bytea",
    }, "no column that could hold prompt text"


async def test_events_without_features_store_none(
    system: RunningSystem, settings: Settings, db: asyncpg.Pool
) -> None:
    event = completed_event()
    await _publish(
        settings,
        event.model_dump_json().encode(),
        exchange=EVENTS_EXCHANGE,
        routing_key=ROUTE_COMPLETED_KEY,
    )
    await wait_for_rows(
        db, "SELECT count(*) FROM routing_requests WHERE request_id = $1", event.request_id,
        expected=1,
    )  # fmt: skip
    assert await db.fetchval(FEATURES, [event.request_id]) == 0


async def test_retention_deletes_features_older_than_the_setting_and_keeps_the_rest(
    system: RunningSystem, settings: Settings, db: asyncpg.Pool
) -> None:
    now = datetime.now(UTC)
    ages = {"old": 31, "older": 400, "recent": 29, "fresh": 0}
    events = {
        name: completed_event().model_copy(
            update={
                "features": encode_features([0.5, 0.25]),
                "context_version": 1,
                "created_at": now - timedelta(days=days),
            }
        )
        for name, days in ages.items()
    }
    for event in events.values():
        await _publish(
            settings,
            event.model_dump_json().encode(),
            exchange=EVENTS_EXCHANGE,
            routing_key=ROUTE_COMPLETED_KEY,
        )
    ids = [e.request_id for e in events.values()]
    assert await wait_for_rows(db, FEATURES, ids, expected=4) == 4
    ledger = system.worker("feedback")
    assert isinstance(ledger, LedgerService)
    assert settings.feature_retention_days == 30
    assert await ledger.expire_features() >= 2
    kept = await db.fetch(
        "SELECT request_id FROM request_features WHERE request_id = ANY($1::uuid[])", ids
    )
    assert {r["request_id"] for r in kept} == {
        events["recent"].request_id,
        events["fresh"].request_id,
    }
    # The requests themselves stay: only their features are bounded.
    assert (
        await db.fetchval(
            "SELECT count(*) FROM routing_requests WHERE request_id = ANY($1::uuid[])", ids
        )
        == 4
    )
