"""SQL of the learner: feedback aggregates, override versions and the run history."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from schemas.messages import Override
from shared.storage.partitions import rated_request_months

# "Good" outcome: marked correct, or (when correctness was not given) a score of 4 or 5.
# Must agree with shared.routing.learning's definition, which the replay evaluator uses.
AGGREGATE_FEEDBACK = f"""
SELECT r.pattern, r.model, count(*)::int AS samples,
       sum(CASE WHEN f.is_correct IS TRUE OR (f.is_correct IS NULL AND f.quality_score >= 4)
                THEN 1 ELSE 0 END)::int AS good,
       avg(f.quality_score)::float AS avg_quality,
       avg(CASE WHEN f.is_correct THEN 1.0 WHEN f.is_correct = false THEN 0.0 END)::float
           AS correct_rate
FROM production_feedback f JOIN routing_requests r
    ON r.request_id = f.request_id AND r.created_at = f.request_created_at
WHERE f.updated_at > now() - $1::interval AND r.ok AND r.model IS NOT NULL
  AND {rated_request_months("updated_at > now() - $1::interval")}
GROUP BY r.pattern, r.model
ORDER BY r.pattern, r.model
"""  # noqa: S608 - a fixed condition


async def aggregate(conn: asyncpg.Connection, window_days: int) -> list[asyncpg.Record]:
    # asyncpg binds an interval parameter from a timedelta only (a string is a DataError).
    rows: list[asyncpg.Record] = await conn.fetch(AGGREGATE_FEEDBACK, timedelta(days=window_days))
    return rows


async def active_overrides(conn: asyncpg.Connection | asyncpg.Pool) -> tuple[int, list[Override]]:
    """(version, overrides) currently in force; version 0 when nothing was ever learned."""
    rows = await conn.fetch(
        """SELECT version, pattern, model, provider, confidence_level, confidence_bound,
                  sample_count, avg_quality, correct_rate
           FROM learning_overrides WHERE is_active ORDER BY pattern"""
    )
    version = await conn.fetchval(
        "SELECT coalesce(max(version), 0) FROM learning_runs WHERE version IS NOT NULL"
    )
    overrides = [Override.model_validate(dict(r.items())) for r in rows]
    return int(version or 0), overrides


async def current_trials(conn: asyncpg.Connection | asyncpg.Pool) -> dict[str, list[str]]:
    """The trials of the latest real run (they are recomputed by every retrain)."""
    value = await conn.fetchval(
        """SELECT trials FROM learning_runs
           WHERE NOT dry_run AND status IN ('applied', 'unchanged') ORDER BY id DESC LIMIT 1"""
    )
    return dict(value or {})


async def version_trials(conn: asyncpg.Connection, version: int) -> dict[str, list[str]]:
    value = await conn.fetchval(
        "SELECT trials FROM learning_runs WHERE version = $1 ORDER BY id DESC LIMIT 1", version
    )
    return dict(value or {})


async def write_version(conn: asyncpg.Connection, version: int, overrides: list[Override]) -> None:
    """Deactivate the current set and insert `overrides` as `version`, active. Caller holds a tx."""
    await conn.execute("UPDATE learning_overrides SET is_active = false WHERE is_active")
    await conn.executemany(
        """INSERT INTO learning_overrides (version, pattern, model, provider, confidence_level,
               confidence_bound, sample_count, avg_quality, correct_rate, is_active)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, true)""",
        [
            (
                version,
                o.pattern,
                o.model,
                o.provider,
                o.confidence_level,
                o.confidence_bound,
                o.sample_count,
                o.avg_quality,
                o.correct_rate,
            )
            for o in overrides
        ],
    )


async def version_overrides(conn: asyncpg.Connection, version: int) -> list[Override] | None:
    """The overrides written as `version`, or None when that version was never written."""
    known = await conn.fetchval(
        "SELECT 1 FROM learning_runs WHERE version = $1 AND NOT dry_run AND status = 'applied'",
        version,
    )
    if not known:
        return None
    rows = await conn.fetch(
        """SELECT pattern, model, provider, confidence_level, confidence_bound, sample_count,
                  avg_quality, correct_rate FROM learning_overrides WHERE version = $1""",
        version,
    )
    return [Override.model_validate(dict(r.items())) for r in rows]


async def next_version(conn: asyncpg.Connection) -> int:
    value = await conn.fetchval("SELECT coalesce(max(version), 0) + 1 FROM learning_runs")
    return int(value)


async def record_run(
    conn: asyncpg.Connection,
    *,
    trigger: str,
    dry_run: bool,
    status: str,
    version: int | None,
    params: dict[str, Any],
    diff: dict[str, Any],
    started_at: datetime,
    schedule_slot: str | None = None,
    trials: dict[str, list[str]] | None = None,
) -> int:
    run_id = await conn.fetchval(
        """INSERT INTO learning_runs (started_at, finished_at, trigger, dry_run, status, version,
               params, diff, schedule_slot, trials)
           VALUES ($1, now(), $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id""",
        started_at,
        trigger,
        dry_run,
        status,
        version,
        json.loads(json.dumps(params, default=str)),
        json.loads(json.dumps(diff, default=str)),
        schedule_slot,
        trials or {},
    )
    return int(run_id)


async def slot_taken(conn: asyncpg.Connection, slot: str) -> bool:
    """True when a learner replica already ran this cron slot."""
    return bool(await conn.fetchval("SELECT 1 FROM learning_runs WHERE schedule_slot = $1", slot))


async def recent_runs(pool: asyncpg.Pool, limit: int = 20) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        """SELECT id, started_at, finished_at, trigger, dry_run, status, version, params, diff,
                  schedule_slot, error
           FROM learning_runs ORDER BY id DESC LIMIT $1""",
        limit,
    )
    return [dict(r.items()) for r in rows]


async def coverage(pool: asyncpg.Pool, window_days: int) -> dict[str, Any]:
    """Share of recent requests whose pattern has an active override."""
    row = await pool.fetchrow(
        """SELECT count(*)::int AS total,
                  count(*) FILTER (WHERE pattern IN
                      (SELECT pattern FROM learning_overrides WHERE is_active))::int AS covered
           FROM routing_requests WHERE created_at > now() - $1::interval""",
        timedelta(days=window_days),
    )
    total, covered = row["total"], row["covered"]
    return {"requests": total, "covered": covered, "share": (covered / total) if total else 0.0}
