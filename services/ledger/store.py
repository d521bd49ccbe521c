"""SQL for the feedback service: completions, ratings and the reports built on them."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, Literal
from uuid import UUID

import asyncpg

from schemas.messages import SubmitFeedback
from services.ledger.recorder import ADOPT_PENDING
from shared.storage.partitions import rated_request_months

# A rating is kept in its request's month (migrations/0011): request_ids says which.
_UPSERT_FEEDBACK = """
INSERT INTO production_feedback (request_id, request_created_at, quality_score, is_correct,
                                 comment, api_key_id)
SELECT request_id, created_at, $2, $3, $4, $5 FROM request_ids WHERE request_id = $1
ON CONFLICT (request_id, request_created_at) DO UPDATE SET
    quality_score = EXCLUDED.quality_score, is_correct = EXCLUDED.is_correct,
    comment = EXCLUDED.comment, revision = production_feedback.revision + 1, updated_at = now()
RETURNING revision = 1 AS inserted  -- xmax cannot be read from a partitioned table
"""

_PARK_FEEDBACK = """
INSERT INTO pending_feedback (request_id, quality_score, is_correct, comment, api_key_id)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (request_id) DO UPDATE SET
    quality_score = EXCLUDED.quality_score, is_correct = EXCLUDED.is_correct,
    comment = EXCLUDED.comment, received_at = now()
"""


async def request_owner(pool: asyncpg.Pool, request_id: UUID) -> tuple[bool, str | None]:
    """(exists, api_key_id) of a stored request."""
    # Through request_ids, so that only the request's month is read.
    row = await pool.fetchrow(
        """SELECT r.api_key_id FROM request_ids i
           JOIN routing_requests r ON r.request_id = i.request_id AND r.created_at = i.created_at
           WHERE i.request_id = $1""",
        request_id,
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


async def store_feedback(
    pool: asyncpg.Pool, feedback: SubmitFeedback
) -> Literal["created", "updated"]:
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
            "SELECT 1 FROM request_ids WHERE request_id = $1", feedback.request_id
        )
        if exists:
            await conn.execute(ADOPT_PENDING, [feedback.request_id])


async def expire_pending(pool: asyncpg.Pool, ttl_s: float) -> int:
    """Delete ratings parked longer than `ttl_s` (their request never came); how many."""
    status: str = await pool.execute(
        "DELETE FROM pending_feedback WHERE received_at < now() - $1::interval",
        timedelta(seconds=ttl_s),
    )
    return int(status.rsplit(" ", 1)[-1])


# Old features go in slices of this many rows: one short transaction each, no long lock.
_EXPIRE_SLICE = 10_000


async def expire_features(pool: asyncpg.Pool, retention_days: int) -> int:
    """Delete stored context vectors older than `retention_days` days; how many."""
    deleted = 0
    while True:
        status: str = await pool.execute(
            """DELETE FROM request_features WHERE request_id IN (
                   SELECT request_id FROM request_features
                   WHERE created_at < now() - $1::interval LIMIT $2)""",
            timedelta(days=retention_days),
            _EXPIRE_SLICE,
        )
        count = int(status.rsplit(" ", 1)[-1])
        deleted += count
        if count < _EXPIRE_SLICE:
            return deleted


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
                FROM production_feedback f JOIN routing_requests r
                    ON r.request_id = f.request_id AND r.created_at = f.request_created_at
                WHERE f.created_at > now() - $1::interval
                  AND {rated_request_months("created_at > now() - $1::interval")}
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
