"""SQL of the quality model: its versions, and the rated requests with their stored features."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from shared.storage.partitions import rated_request_months

# A rating enters the model once. New since the parent's `fitted_through`: first submissions
# (revision 1, including ratings parked before their request and attached later, whose
# `updated_at` is when they were attached) and ratings first made after it and revised since.
# A re-rating of a request already learned from is not learned twice (docs/learning.md).
_NEW_RATINGS = f"""
SELECT r.model, rf.features, f.quality_score, f.is_correct
FROM production_feedback f
-- On the id alone (request_ids keeps it unique across months): joined on (id, month) too,
-- PostgreSQL multiplies the two keys' selectivities, expects one row, and reads the vectors
-- one index probe at a time (100,000 ratings: 3.9 s against 2.3 s by a hash join).
JOIN routing_requests r ON r.request_id = f.request_id
JOIN request_features rf ON rf.request_id = f.request_id
WHERE rf.context_version = $1 AND r.ok AND r.model IS NOT NULL
  AND f.updated_at > $2 AND f.updated_at <= $3
  AND (f.revision = 1 OR f.created_at > $2)
  AND {rated_request_months("updated_at > $2 AND updated_at <= $3")}
"""  # noqa: S608 - fixed conditions

# Recent traffic the dry-run diff replays: what the routers would decide on it.
_RECENT_FEATURES = """
SELECT rf.features, r.tokens_in, r.tokens_out, r.provider
FROM request_features rf JOIN routing_requests r USING (request_id)
WHERE rf.context_version = $1 AND rf.created_at > now() - $2::interval AND r.ok
  -- the same window on the request, so that only its months are read
  AND r.created_at > now() - $2::interval
ORDER BY rf.created_at DESC
LIMIT $3
"""

_VERSION_COLUMNS = """version, created_at, context_version, rows_used, parent_version,
    restored_from, fitted_through, is_active, trigger, diff"""


async def active(conn: asyncpg.Connection | asyncpg.Pool) -> asyncpg.Record | None:
    """The active version's row, model bytes included; None when none was ever learned."""
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT {_VERSION_COLUMNS}, model FROM quality_models WHERE is_active"  # noqa: S608
    )
    return row


async def version(conn: asyncpg.Connection, number: int) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT {_VERSION_COLUMNS}, model FROM quality_models WHERE version = $1",  # noqa: S608
        number,
    )
    return row


async def prune(conn: asyncpg.Connection, kept: int) -> int:
    """Drop the bytes of versions older than the newest `kept` (the active one always stays):
    a learned model is up to a few MB and a busy learner writes one per fit. The rows stay,
    as the history; such a version can no longer be restored. How many were pruned."""
    status: str = await conn.execute(
        """UPDATE quality_models SET model = ''::bytea
           WHERE NOT is_active AND octet_length(model) > 0
             AND version <= (SELECT max(version) FROM quality_models) - $1""",
        kept,
    )
    return int(status.rsplit(" ", 1)[-1])


async def versions(pool: asyncpg.Pool, limit: int) -> list[dict[str, Any]]:
    """The newest versions first, without their bytes."""
    rows = await pool.fetch(
        f"""SELECT {_VERSION_COLUMNS}, octet_length(model) AS model_bytes
            FROM quality_models ORDER BY version DESC LIMIT $1""",  # noqa: S608
        limit,
    )
    return [dict(r.items()) for r in rows]


async def database_now(conn: asyncpg.Connection) -> datetime:
    value: datetime = await conn.fetchval("SELECT now()")
    return value


async def new_ratings(
    conn: asyncpg.Connection,
    context_version: int,
    since: datetime,
    until: datetime,
    chunk: int = 10_000,
) -> AsyncIterator[list[asyncpg.Record]]:
    """The ratings a fit adds, in chunks (a cursor: a million rows never sit in one list).
    The caller holds a transaction (cursors need one)."""
    # Every row is read: plan for all of them, not for the first tenth (a cursor's default
    # favours plans that start fast, such as one index probe per rating).
    await conn.execute("SET LOCAL cursor_tuple_fraction = 1.0")
    cursor = await conn.cursor(_NEW_RATINGS, context_version, since, until)
    while rows := await cursor.fetch(chunk):
        yield rows


async def recent_features(
    conn: asyncpg.Connection, context_version: int, window: timedelta, limit: int
) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        _RECENT_FEATURES, context_version, window, limit
    )
    return rows


async def write(
    conn: asyncpg.Connection,
    *,
    context_version: int,
    model: bytes,
    rows_used: int,
    parent_version: int | None,
    fitted_through: datetime,
    trigger: str,
    diff: dict[str, Any],
    restored_from: int | None = None,
) -> int:
    """Store a new version and make it the active one; its number. Caller holds a tx."""
    number = int(
        await conn.fetchval("SELECT coalesce(max(version), 0) + 1 FROM quality_models")
    )
    await conn.execute("UPDATE quality_models SET is_active = false WHERE is_active")
    await conn.execute(
        """INSERT INTO quality_models (version, context_version, model, rows_used,
               parent_version, restored_from, fitted_through, is_active, trigger, diff)
           VALUES ($1, $2, $3, $4, $5, $6, $7, true, $8, $9)""",
        number,
        context_version,
        model,
        rows_used,
        parent_version,
        restored_from,
        fitted_through,
        trigger,
        json.loads(json.dumps(diff, default=str)),
    )
    return number
