"""SQL for the feedback service: completions, ratings and the reports built on them."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any
from uuid import UUID

import asyncpg

from schemas.messages import RouteCompleted, SubmitFeedback
from services.feedback import access_store

_INSERT_REQUEST = """
INSERT INTO routing_requests (
    request_id, created_at, ok, provider, model, pattern, complexity, tokens_in, tokens_out,
    cost_usd, baseline_cost_usd, savings_usd, latency_ms, attempts, fallback_path, explored,
    override_version, decision_reason, finish_reason, error_kind, error_message, prompt_hash,
    prompt_preview, api_key_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
        $20, $21, $22, $23, $24)
ON CONFLICT (request_id) DO NOTHING
"""

# Feedback parked before its request row existed joins production_feedback in the same
# transaction that stores the row, unless it came with another key than the request's owner
# (a key rates only its own requests).
_ADOPT_PENDING = """
WITH moved AS (DELETE FROM pending_feedback WHERE request_id = $1 RETURNING *)
INSERT INTO production_feedback (request_id, quality_score, is_correct, comment, api_key_id,
                                 created_at, updated_at)
SELECT request_id, quality_score, is_correct, comment, api_key_id, received_at, now() FROM moved
WHERE moved.api_key_id IS NULL OR moved.api_key_id IS NOT DISTINCT FROM
    (SELECT r.api_key_id FROM routing_requests r WHERE r.request_id = $1)
ON CONFLICT (request_id) DO NOTHING
"""

_UPSERT_FEEDBACK = """
INSERT INTO production_feedback (request_id, quality_score, is_correct, comment, api_key_id)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (request_id) DO UPDATE SET
    quality_score = EXCLUDED.quality_score, is_correct = EXCLUDED.is_correct,
    comment = EXCLUDED.comment, revision = production_feedback.revision + 1, updated_at = now()
RETURNING (xmax = 0) AS inserted
"""

_PARK_FEEDBACK = """
INSERT INTO pending_feedback (request_id, quality_score, is_correct, comment, api_key_id)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (request_id) DO UPDATE SET
    quality_score = EXCLUDED.quality_score, is_correct = EXCLUDED.is_correct,
    comment = EXCLUDED.comment, received_at = now()
"""


async def record_completion(pool: asyncpg.Pool, event: RouteCompleted) -> bool:
    """Store one request row (idempotent on request_id). True when this call inserted it."""
    hops = [hop.model_dump() for hop in event.fallback_path]
    async with pool.acquire() as conn, conn.transaction():
        status = await conn.execute(
            _INSERT_REQUEST,
            event.request_id,
            event.created_at,
            event.ok,
            event.provider,
            event.model,
            event.pattern,
            event.complexity,
            event.tokens_in,
            event.tokens_out,
            event.cost_usd,
            event.baseline_cost_usd,
            event.savings_usd,
            event.latency_ms,
            event.attempts,
            hops,
            event.explored,
            event.override_version,
            event.decision_reason,
            event.finish_reason,
            event.error_kind,
            event.error_message,
            event.prompt_hash,
            event.prompt_preview,
            event.api_key_id,
        )
        await conn.execute(_ADOPT_PENDING, event.request_id)
        await access_store.settle(conn, event, inserted=status.endswith(" 1"))
    return bool(status.endswith(" 1"))


async def request_owner(pool: asyncpg.Pool, request_id: UUID) -> tuple[bool, str | None]:
    """(exists, api_key_id) of a stored request."""
    row = await pool.fetchrow(
        "SELECT api_key_id FROM routing_requests WHERE request_id = $1", request_id
    )
    return (row is not None, row["api_key_id"] if row else None)


async def wait_for_request(
    pool: asyncpg.Pool, request_id: UUID, grace_s: float
) -> tuple[bool, str | None]:
    """Poll briefly: the completion event of a just-answered request may still be in flight."""
    exists, owner = await request_owner(pool, request_id)
    waited = 0.0
    while not exists and waited < grace_s:
        await asyncio.sleep(0.1)
        waited += 0.1
        exists, owner = await request_owner(pool, request_id)
    return exists, owner


async def store_feedback(pool: asyncpg.Pool, feedback: SubmitFeedback) -> str:
    """Upsert a rating on a stored request: 'created' or 'updated'."""
    inserted = await pool.fetchval(
        _UPSERT_FEEDBACK,
        feedback.request_id,
        feedback.quality_score,
        feedback.is_correct,
        feedback.comment,
        feedback.api_key_id,
    )
    return "created" if inserted else "updated"


async def park_feedback(pool: asyncpg.Pool, feedback: SubmitFeedback) -> None:
    """Keep a rating whose request is unknown so far; adopted when the request is recorded."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            _PARK_FEEDBACK,
            feedback.request_id,
            feedback.quality_score,
            feedback.is_correct,
            feedback.comment,
            feedback.api_key_id,
        )
        # The request row may have landed between our check and this insert.
        exists = await conn.fetchval(
            "SELECT 1 FROM routing_requests WHERE request_id = $1", feedback.request_id
        )
        if exists:
            await conn.execute(_ADOPT_PENDING, feedback.request_id)


async def feedback_summary(pool: asyncpg.Pool, days: int) -> dict[str, Any]:
    """Totals and averages per model and per pattern over the last `days` days."""
    # asyncpg binds an interval parameter from a timedelta only (a string is a DataError).
    since = timedelta(days=days)
    totals = await pool.fetchrow(
        """SELECT count(*) AS n, avg(quality_score)::float AS avg_score,
                  avg(CASE WHEN is_correct THEN 1.0 WHEN is_correct = false THEN 0.0 END)::float
                      AS correct_rate
           FROM production_feedback WHERE created_at > now() - $1::interval""",
        since,
    )
    grouped: dict[str, list[dict[str, Any]]] = {}
    for key, column in (("by_model", "r.model"), ("by_query_pattern", "r.pattern")):
        rows = await pool.fetch(
            f"""SELECT {column} AS name, count(*) AS count, avg(f.quality_score)::float AS avg
                FROM production_feedback f JOIN routing_requests r USING (request_id)
                WHERE f.created_at > now() - $1::interval
                GROUP BY {column} ORDER BY count(*) DESC, {column}""",  # noqa: S608 - fixed columns
            since,
        )
        grouped[key] = [
            {"name": r["name"], "count": r["count"], "avg_quality_score": _round(r["avg"])}
            for r in rows
        ]
    pending = await pool.fetchval("SELECT count(*) FROM pending_feedback")
    return {
        "window_days": days,
        "total_feedback": totals["n"],
        "avg_quality_score": _round(totals["avg_score"]),
        "correct_rate": _round(totals["correct_rate"]),
        "pending_feedback": pending,
        "by_model": grouped["by_model"],
        "by_query_pattern": grouped["by_query_pattern"],
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def dumps(data: Any) -> bytes:
    return json.dumps(data, default=str).encode()
