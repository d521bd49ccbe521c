"""Monthly partitions of requests and ratings (migrations 0010-0011, shared/storage/partitions).

An existing database moves to the new layout with every row; the ledger still stores a
request once however often its event comes; months are made ahead and on demand; retention
drops whole months with their ratings and nothing younger.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from schemas.messages import SubmitFeedback
from services.ledger import store
from services.ledger.recorder import record_completions
from shared.storage import partitions
from shared.storage.db import create_pool
from shared.storage.migrate import migrate
from tests.integration.test_request_path import completed_event

# Every stored column of both tables, in one text per row: compared before and after the move.
REQUEST_ROWS = """
SELECT request_id, md5(concat_ws('|', created_at, recorded_at, ok, provider, model, pattern,
       complexity, tokens_in, tokens_out, cost_usd, baseline_cost_usd, savings_usd, latency_ms,
       attempts, fallback_path, explored, override_version, decision_reason, finish_reason,
       error_kind, error_message, prompt_hash, prompt_preview, api_key_id, streamed,
       first_token_ms, answer_chars, status)) AS digest
FROM routing_requests ORDER BY request_id
"""
FEEDBACK_ROWS = """
SELECT request_id, md5(concat_ws('|', quality_score, is_correct, comment, api_key_id, revision,
       created_at, updated_at)) AS digest
FROM production_feedback ORDER BY request_id
"""


async def _fill_old_layout(conn: asyncpg.Connection, requests: int) -> None:
    """Requests over 14 months (some failed, some expired), ratings on a third of them."""
    await conn.execute(
        """INSERT INTO routing_requests (request_id, created_at, ok, provider, model, pattern,
               complexity, tokens_in, tokens_out, cost_usd, fallback_path, error_kind,
               prompt_hash, api_key_id, streamed, first_token_ms, answer_chars)
           SELECT gen_random_uuid(), now() - g * interval '101 minutes', g % 9 <> 0,
                  'simulated', 'model-' || g % 4, 'pattern-' || g % 5, 'low', g % 700, g % 300,
                  g * 0.000001, jsonb_build_array(jsonb_build_object('model', 'm', 'n', g)),
                  CASE WHEN g % 9 = 0 THEN 'expired' END, md5(g::text), 'key-' || g % 3,
                  g % 2 = 0, g % 50, g % 1000
           FROM generate_series(1, $1) AS g""",
        requests,
    )
    await conn.execute(
        """INSERT INTO production_feedback (request_id, quality_score, is_correct, comment,
               api_key_id, revision, created_at)
           SELECT request_id, 1 + tokens_in % 5, CASE WHEN tokens_out % 3 = 0 THEN NULL
                  ELSE tokens_out % 2 = 0 END, 'note ' || tokens_in, api_key_id,
                  1 + tokens_out % 3, created_at + interval '1 hour'
           FROM routing_requests WHERE tokens_in % 3 = 0"""
    )
    await conn.execute(
        "INSERT INTO pending_feedback (request_id, quality_score) VALUES ($1, 4)", uuid.uuid4()
    )


async def test_an_existing_database_moves_to_partitions_with_every_row(fresh_url: str) -> None:
    await migrate(fresh_url, up_to=9)
    conn = await asyncpg.connect(fresh_url)
    try:
        # Months are UTC whatever the session's zone: fill from a zone far from it.
        await conn.execute("SET TimeZone = 'Pacific/Kiritimati'")
        await _fill_old_layout(conn, 6000)
        # A table of someone else's that references requests by id, as request_features did
        # where migration 0012 ran before 0010.
        await conn.execute(
            """CREATE TABLE request_notes (request_id uuid PRIMARY KEY
                   REFERENCES routing_requests (request_id) ON DELETE CASCADE);
               INSERT INTO request_notes SELECT request_id FROM routing_requests LIMIT 100"""
        )
        requests_before = await conn.fetch(REQUEST_ROWS)
        feedback_before = await conn.fetch(FEEDBACK_ROWS)
        months = await conn.fetchval(
            "SELECT count(DISTINCT date_trunc('month', created_at AT TIME ZONE 'UTC')) "
            "FROM routing_requests"
        )
    finally:
        await conn.close()
    assert len(requests_before) == 6000 and len(feedback_before) > 1900

    out: list[str] = []
    await migrate(fresh_url, out=out)
    assert "Applied 0010_partitioned_requests.sql" in out
    assert "Applied 0011_partitioned_feedback.sql" in out
    assert not [line for line in out if "_y20" in line], "partitions are not announced as tables"

    conn = await asyncpg.connect(fresh_url)
    try:
        await conn.execute("SET TimeZone = 'Pacific/Kiritimati'")  # timestamps as text alike
        assert await conn.fetch(REQUEST_ROWS) == requests_before
        assert await conn.fetch(FEEDBACK_ROWS) == feedback_before
        assert await conn.fetchval("SELECT count(*) FROM request_ids") == 6000
        assert await conn.fetchval("SELECT count(*) FROM pending_feedback") == 1
        assert await conn.fetchval("SELECT count(*) FROM request_notes") == 100
        referenced = await conn.fetchval(
            "SELECT confrelid::regclass::text FROM pg_constraint "
            "WHERE conrelid = 'request_notes'::regclass AND contype = 'f'"
        )
        assert referenced == "request_ids"
        layout = await conn.fetch(
            "SELECT relname, relkind::text FROM pg_class "
            "WHERE relname IN ('routing_requests', 'production_feedback')"
        )
        assert {r["relkind"] for r in layout} == {"p"}
        request_months = await conn.fetch(
            "SELECT range_start FROM optimizer_partitions('routing_requests')"
        )
        feedback_months = await conn.fetch(
            "SELECT range_start FROM optimizer_partitions('production_feedback')"
        )
        assert request_months == feedback_months
        # The months holding rows (up to this one), plus the next two.
        assert len(request_months) == months + 2
        # Each row sits in the partition of its UTC month.
        misplaced = await conn.fetchval(
            """SELECT count(*) FROM routing_requests r
               JOIN optimizer_partitions('routing_requests') p ON p.partition = r.tableoid
               WHERE NOT (r.created_at >= p.range_start AND r.created_at < p.range_end)"""
        )
        assert misplaced == 0
        # The deployment guide's queries still run.
        await conn.fetch(
            "SELECT provider, model, COUNT(*) FROM routing_requests "
            "WHERE created_at > NOW() - INTERVAL '24 hours' GROUP BY provider, model"
        )
        await conn.fetch("SELECT quality_score, COUNT(*) FROM production_feedback GROUP BY 1")
    finally:
        await conn.close()


@pytest.fixture
async def pool(fresh_url: str) -> AsyncIterator[asyncpg.Pool]:
    await migrate(fresh_url)
    value = await create_pool(fresh_url, max_size=4)
    yield value
    await value.close()


async def test_a_request_is_stored_once_whatever_its_events_say(pool: asyncpg.Pool) -> None:
    event = completed_event()
    assert await record_completions(pool, [event]) == {event.request_id}
    assert await record_completions(pool, [event]) == set()
    # A router that answered the same request again sends another created_at: still one row,
    # the first.
    later = event.model_copy(update={"created_at": event.created_at + timedelta(days=40)})
    other = completed_event()
    assert await record_completions(pool, [later, other]) == {other.request_id}
    rows = await pool.fetch(
        "SELECT created_at FROM routing_requests WHERE request_id = $1", event.request_id
    )
    assert [r["created_at"] for r in rows] == [event.created_at]


async def test_an_event_from_a_month_without_partition_is_stored(pool: asyncpg.Pool) -> None:
    old = completed_event().model_copy(update={"created_at": datetime(2019, 3, 5, tzinfo=UTC)})
    assert await record_completions(pool, [old]) == {old.request_id}
    names = {
        r["partition"]
        for r in await pool.fetch(
            "SELECT partition::text FROM optimizer_partitions('routing_requests') "
            "UNION ALL SELECT partition::text FROM optimizer_partitions('production_feedback')"
        )
    }
    assert {"routing_requests_y2019m03", "production_feedback_y2019m03"} <= names
    rating = SubmitFeedback(request_id=old.request_id, quality_score=5)
    assert await store.store_feedback(pool, rating) == "created"
    assert await store.store_feedback(pool, rating) == "updated"
    assert await pool.fetchval("SELECT revision FROM production_feedback") == 2


async def test_retention_drops_whole_old_months_and_nothing_younger(pool: asyncpg.Pool) -> None:
    now = datetime(2026, 6, 15, 12, tzinfo=UTC)
    dates = [now - timedelta(days=d) for d in (200, 130, 95, 60, 31, 1)]
    events = [completed_event().model_copy(update={"created_at": at}) for at in dates]
    await record_completions(pool, events)
    for event in events:
        await store.store_feedback(
            pool, SubmitFeedback(request_id=event.request_id, quality_score=4)
        )

    # Without retention nothing goes, and the coming months are made.
    kept = await partitions.maintain(pool, retention_days=0, now=now)
    assert kept.dropped == [] and kept.ids_deleted == 0
    starts = {
        r["range_start"]
        for r in await pool.fetch(
            "SELECT range_start FROM optimizer_partitions('routing_requests')"
        )
    }
    assert {datetime(2026, m, 1, tzinfo=UTC) for m in (6, 7, 8)} <= starts

    # 90 days before June 15 is March 17: January and February go, March is kept whole.
    done = await partitions.maintain(pool, retention_days=90, now=now)
    assert sorted(done.dropped) == [
        "production_feedback_y2025m11",
        "production_feedback_y2026m02",
        "routing_requests_y2025m11",
        "routing_requests_y2026m02",
    ]
    assert done.ids_deleted == 2
    survivors = {
        r["request_id"] for r in await pool.fetch("SELECT request_id FROM routing_requests")
    }
    assert survivors == {e.request_id for e in events[2:]}
    rated = {
        r["request_id"] for r in await pool.fetch("SELECT request_id FROM production_feedback")
    }
    assert rated == survivors
    ids = {r["request_id"] for r in await pool.fetch("SELECT request_id FROM request_ids")}
    assert ids == survivors
    again = await partitions.maintain(pool, retention_days=90, now=now)
    assert again.dropped == [] and again.ids_deleted == 0 and again.created == 0


def test_months_are_utc_calendar_months() -> None:
    moment = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
    assert partitions.month_start(moment) == datetime(2026, 12, 1, tzinfo=UTC)
    assert partitions.add_months(moment, 2) == datetime(2027, 2, 1, tzinfo=UTC)
    assert partitions.retention_cutoff(moment, 31) == datetime(2026, 11, 1, tzinfo=UTC)
