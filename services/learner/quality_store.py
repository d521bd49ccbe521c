"""SQL of the quality model: its versions, and the rated requests with their stored features."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from services.learner.copy_rows import RatedRows, RatingReader
from shared.routing.policy import FORCED_REASON
from shared.storage.partitions import rated_request_months

# New since the parent's `fitted_through`: every rating given (or re-given) after it, at its
# latest value, once per fit; ratings parked before their request count from when they were
# attached (`updated_at`). A re-rating of a request an earlier fit learned is thus learned as a
# correction, beside the superseded value (docs/learning.md, "Re-ratings").
# Read by a binary COPY whose rows all have one size, so that numpy parses them in one call
# (`copy_rows.RatingReader`): the answering model's position in $4 (1-based); the stored vector,
# or $5 zero bytes when it is not $5 bytes long, and its real size (the reader leaves such a
# vector out: a filter on the size here makes PostgreSQL expect 0.5% of the rows and probe two
# indexes per rating, 1.8 s instead of 0.5 s for 100,000); the score (0: none) and is_correct
# (1, 0, -1: none). Never NULL: that would change a row's size.
_NEW_RATINGS = f"""
SELECT array_position($4::text[], r.model)::int2,
       CASE WHEN octet_length(rf.features) = $5 THEN rf.features
            ELSE decode(repeat('00', $5), 'hex') END,
       octet_length(rf.features)::int2,
       coalesce(f.quality_score, 0)::int2,
       (CASE WHEN f.is_correct THEN 1 WHEN NOT f.is_correct THEN 0 ELSE -1 END)::int2
FROM production_feedback f
-- On the id alone (request_ids keeps it unique across months): joined on (id, month) too,
-- PostgreSQL multiplies the two keys' selectivities, expects one row, and reads the vectors
-- one index probe at a time (100,000 ratings: 3.9 s against 2.3 s by a hash join).
JOIN routing_requests r ON r.request_id = f.request_id
JOIN request_features rf ON rf.request_id = f.request_id
WHERE rf.context_version = $1 AND r.ok AND r.model = ANY($4::text[])
  AND f.updated_at > $2 AND f.updated_at <= $3
  AND {rated_request_months("updated_at > $2 AND updated_at <= $3")}
"""  # noqa: S608 - fixed conditions
# Memory for the hash joins of a million-row fit (the default 4 MB spills them to disk).
_FIT_WORK_MEM = "256MB"

# Recent traffic the dry-run diff replays: what the routers would decide on it, within the
# rules its key has now (a request's own constraints are not stored), forced requests apart
# ($4: the reason such a decision stored, `policy.FORCED_REASON`; decision_reason is cut at 500
# characters, and the forced reason is its second part).
_RECENT_FEATURES = """
SELECT rf.features, r.tokens_in, r.tokens_out, r.provider,
       position($4 in coalesce(r.decision_reason, '')) > 0 AS forced,
       k.quality_target::float8, k.min_quality::float8, k.allowed_models, k.allowed_providers,
       k.max_cost_per_request_usd::float8 AS max_cost_usd
FROM request_features rf JOIN routing_requests r USING (request_id)
LEFT JOIN api_keys k ON k.id = r.api_key_id
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
    models: Sequence[str],
    width: int,
) -> RatedRows:
    """The ratings a fit adds, of `models` and vectors of `width` float16 numbers, as arrays.

    One binary COPY parsed as it arrives: no Python object per row, and memory bounded by the
    arrays themselves (about 92 bytes a rating before the fit widens the vectors to float64).
    The caller holds a transaction (for the work_mem setting)."""
    await conn.execute(f"SET LOCAL work_mem = '{_FIT_WORK_MEM}'")
    reader = RatingReader(width)
    await conn.copy_from_query(
        _NEW_RATINGS, context_version, since, until, list(models), 2 * width,
        output=reader, format="binary",
    )  # fmt: skip
    return reader.rows()


async def recent_features(
    conn: asyncpg.Connection, context_version: int, window: timedelta, limit: int
) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        _RECENT_FEATURES, context_version, window, limit, "; " + FORCED_REASON
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
    number = int(await conn.fetchval("SELECT coalesce(max(version), 0) + 1 FROM quality_models"))
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
