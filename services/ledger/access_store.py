"""SQL for API keys: lookup by hash, admission (rate limit + daily budget), spend, management.

The budget bound. Admission runs under a row lock on the key (`SELECT ... FOR UPDATE`), so
admissions of one key are serialised across every ingress and feedback replica. A request is
admitted while `spent today + reserved by requests in flight < daily budget`, and then reserves
an upper bound of its own cost. The reservation is replaced by the real cost in the transaction
that records the request's `RouteCompleted`. Hence at every moment
`spent + reserved < budget + (reservation of the last admitted request)`, and the day's spend can
exceed the budget by at most one request's cost, however many requests run at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

import asyncpg

from schemas.messages import RouteCompleted
from shared.storage.apikeys import (
    ApiKeyInfo,
    Scope,
    gcra,
    hash_key,
    new_key,
    seconds_until_next_utc_day,
)

# One statement, hence one snapshot: a completion that commits between two separate reads
# (adding to spent, deleting its reservation) would otherwise be counted in neither.
_USED_TODAY = """
SELECT coalesce((SELECT spent_usd FROM api_key_daily_spend
                 WHERE api_key_id = $1 AND day = ($2::timestamptz AT TIME ZONE 'UTC')::date), 0)
           AS spent,
       coalesce((SELECT sum(amount_usd) FROM budget_reservations
                 WHERE api_key_id = $1 AND expires_at > $2), 0) AS reserved
"""
# When only requests in flight hold the rest of the budget, a retry soon may succeed.
_RESERVED_RETRY_S = 2.0

_ADD_SPEND = """
INSERT INTO api_key_daily_spend (api_key_id, day, spent_usd, requests)
VALUES ($1, ($2::timestamptz AT TIME ZONE 'UTC')::date, $3, 1)
ON CONFLICT (api_key_id, day) DO UPDATE SET
    spent_usd = api_key_daily_spend.spent_usd + EXCLUDED.spent_usd,
    requests = api_key_daily_spend.requests + 1
"""


def _number(value: object) -> float | None:
    return float(value) if value is not None else None  # type: ignore[arg-type]


def _info(row: asyncpg.Record) -> ApiKeyInfo:
    return ApiKeyInfo(
        id=row["id"],
        name=row["name"],
        scope=row["scope"],
        rpm_limit=row["rpm_limit"],
        daily_budget_usd=_number(row["daily_budget_usd"]),
        revoked=row["revoked_at"] is not None,
        allowed_models=row["allowed_models"],
        allowed_providers=row["allowed_providers"],
        min_quality=_number(row["min_quality"]),
        quality_target=_number(row["quality_target"]),
        max_cost_per_request_usd=_number(row["max_cost_per_request_usd"]),
    )


async def find_key(pool: asyncpg.Pool, key_hash: str) -> ApiKeyInfo | None:
    row = await pool.fetchrow(
        """SELECT id, name, scope, rpm_limit, daily_budget_usd, revoked_at, allowed_models,
                  allowed_providers, min_quality, quality_target, max_cost_per_request_usd
           FROM api_keys WHERE key_hash = $1""",
        key_hash,
    )
    return _info(row) if row else None


async def admit(
    pool: asyncpg.Pool,
    key_id: str,
    request_id: UUID | None,
    estimated_cost_usd: float | None,
    reservation_ttl_s: float,
    purpose: Literal["request", "feedback"] = "request",
) -> dict[str, Any]:
    """Admit one request of `key_id` or say why not. `estimated_cost_usd` None: no model call.

    `purpose` "feedback": one rating, against the key's requests-per-minute in a bucket of its
    own (`feedback_tat`), so that ratings neither go unlimited nor eat the request allowance.
    """
    if purpose == "feedback":
        return await _admit_rating(pool, key_id)
    async with pool.acquire() as conn, conn.transaction():
        key = await conn.fetchrow(
            """SELECT rpm_limit, daily_budget_usd, revoked_at, rate_tat
               FROM api_keys WHERE id = $1 FOR UPDATE""",
            key_id,
        )
        if key is None or key["revoked_at"] is not None:
            return {"admitted": False, "reason": "revoked", "message": "this API key is revoked"}
        # Read the clock after the lock is ours: the wait may have been long.
        now: datetime = await conn.fetchval("SELECT clock_timestamp()")
        budget = key["daily_budget_usd"]
        if budget is not None and estimated_cost_usd is not None:
            used = await conn.fetchrow(_USED_TODAY, key_id, now)
            spent, reserved = used["spent"], used["reserved"]
            if spent + reserved >= budget:
                exhausted = spent >= budget
                return {
                    "admitted": False,
                    "reason": "budget_exceeded",
                    "message": f"daily budget of ${float(budget):g} "
                    + (
                        f"used: ${float(spent):.6f} spent today (UTC)"
                        if exhausted
                        else f"held by requests in flight (${float(reserved):.6f} reserved)"
                    ),
                    "retry_after_s": seconds_until_next_utc_day(now)
                    if exhausted
                    else _RESERVED_RETRY_S,
                    "limit": float(budget),
                }
        if key["rpm_limit"] is not None:
            decision = gcra(now, key["rate_tat"], key["rpm_limit"])
            if not decision.allowed:
                return {
                    "admitted": False,
                    "reason": "rate_limited",
                    "message": f"rate limit of {key['rpm_limit']} requests per minute reached",
                    "retry_after_s": decision.retry_after_s,
                    "limit": key["rpm_limit"],
                }
            await conn.execute(
                "UPDATE api_keys SET rate_tat = $2 WHERE id = $1", key_id, decision.next_tat
            )
        if budget is not None and estimated_cost_usd and request_id is not None:
            await conn.execute(
                """INSERT INTO budget_reservations (request_id, api_key_id, amount_usd, expires_at)
                   VALUES ($1, $2, $3, $4) ON CONFLICT (request_id) DO NOTHING""",
                request_id,
                key_id,
                estimated_cost_usd,
                now + timedelta(seconds=reservation_ttl_s),
            )
    return {"admitted": True}


async def _admit_rating(pool: asyncpg.Pool, key_id: str) -> dict[str, Any]:
    async with pool.acquire() as conn, conn.transaction():
        key = await conn.fetchrow(
            "SELECT rpm_limit, revoked_at, feedback_tat FROM api_keys WHERE id = $1 FOR UPDATE",
            key_id,
        )
        if key is None or key["revoked_at"] is not None:
            return {"admitted": False, "reason": "revoked", "message": "this API key is revoked"}
        if key["rpm_limit"] is None:
            return {"admitted": True}
        now: datetime = await conn.fetchval("SELECT clock_timestamp()")
        decision = gcra(now, key["feedback_tat"], key["rpm_limit"])
        if not decision.allowed:
            return {
                "admitted": False,
                "reason": "rate_limited",
                "message": f"rate limit of {key['rpm_limit']} ratings per minute reached",
                "retry_after_s": decision.retry_after_s,
                "limit": key["rpm_limit"],
            }
        await conn.execute(
            "UPDATE api_keys SET feedback_tat = $2 WHERE id = $1", key_id, decision.next_tat
        )
    return {"admitted": True}


async def settle(conn: asyncpg.Connection, event: RouteCompleted, inserted: bool) -> None:
    """In the transaction that records a completion: real cost in, reservation out."""
    await conn.execute("DELETE FROM budget_reservations WHERE request_id = $1", event.request_id)
    if inserted and event.api_key_id:
        await conn.execute(_ADD_SPEND, event.api_key_id, event.created_at, event.cost_usd)


async def settle_many(
    conn: asyncpg.Connection, events: Sequence[RouteCompleted], inserted: set[UUID]
) -> None:
    """`settle` for a batch: one statement for the reservations, one per key-day of spend."""
    await conn.execute(
        "DELETE FROM budget_reservations WHERE request_id = ANY($1::uuid[])",
        [e.request_id for e in events],
    )
    spend = [
        (e.api_key_id, e.created_at, e.cost_usd)
        for e in events
        if e.api_key_id and e.request_id in inserted
    ]
    if spend:
        await conn.executemany(_ADD_SPEND, spend)


# ---- management (the `optimizer keys` CLI talks to the database directly) ----


# What `optimizer keys create/update` may set besides scope and name; column = field name.
KEY_SETTINGS = (
    "rpm_limit",
    "daily_budget_usd",
    "allowed_models",
    "allowed_providers",
    "min_quality",
    "quality_target",
    "max_cost_per_request_usd",
)


async def create_key(
    pool: asyncpg.Pool, scope: Scope, name: str = "", **settings: Any
) -> tuple[str, str]:
    """Store a new key with `settings` (names of KEY_SETTINGS); returns (id, key). The key is
    not kept anywhere: show it once."""
    key_id, key = new_key()
    await pool.execute(
        "INSERT INTO api_keys (id, name, key_hash, scope) VALUES ($1, $2, $3, $4)",
        key_id,
        name,
        hash_key(key),
        scope,
    )
    await update_key(pool, key_id, **settings)
    return key_id, key


async def update_key(pool: asyncpg.Pool, key_id: str, **settings: Any) -> bool:
    """Set these KEY_SETTINGS of a key (None clears one). False when the key is unknown."""
    unknown = set(settings) - set(KEY_SETTINGS)
    if unknown:
        raise ValueError(f"not key settings: {sorted(unknown)}")
    if not settings:
        return bool(await pool.fetchval("SELECT true FROM api_keys WHERE id = $1", key_id))
    names = sorted(settings)
    # Column names come from KEY_SETTINGS only, never from the caller's text.
    assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(names, start=2))
    status = await pool.execute(
        f"UPDATE api_keys SET {assignments} WHERE id = $1",  # noqa: S608
        key_id,
        *(settings[name] for name in names),
    )
    return bool(status.endswith(" 1"))


async def list_keys(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    """Every key with today's (UTC) spend and request count; never the hash."""
    rows = await pool.fetch(
        """SELECT k.id, k.name, k.scope, k.rpm_limit, k.daily_budget_usd, k.created_at,
                  k.revoked_at, k.allowed_models, k.allowed_providers, k.min_quality,
                  k.quality_target, k.max_cost_per_request_usd,
                  coalesce(s.spent_usd, 0) AS spent_today_usd,
                  coalesce(s.requests, 0) AS requests_today
           FROM api_keys k
           LEFT JOIN api_key_daily_spend s
             ON s.api_key_id = k.id AND s.day = (now() AT TIME ZONE 'UTC')::date
           ORDER BY k.created_at, k.id"""
    )
    return [dict(r) for r in rows]


async def revoke_key(pool: asyncpg.Pool, key_id: str) -> bool:
    """Mark a key revoked (kept for the history of its requests). False when unknown or done."""
    status = await pool.execute(
        "UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL", key_id
    )
    return bool(status.endswith(" 1"))
