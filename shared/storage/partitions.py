"""Monthly partitions of the request ledger: made ahead, made on demand, dropped by age.

`routing_requests` and `production_feedback` are partitioned by UTC month of the request's
created_at (migrations/0010 and 0011, which also define the SQL functions used here). The
ledger calls `maintain` at start and daily: it makes the partitions of this month and the
next ones, and, when DATA_RETENTION_DAYS is set, drops the months that lie wholly before the
retention cutoff. A row dated in a month without a partition (a clock far off, an old event
redelivered) is not refused: the recorder makes that month's partition and stores it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg

log = logging.getLogger(__name__)

# Made in this order and dropped in the reverse one: ratings reference their requests.
PARTITIONED_TABLES = ("routing_requests", "production_feedback")
MONTHS_AHEAD = 2
# request_ids of dropped months are deleted in slices, to keep each transaction short.
_ID_DELETE_SLICE = 50_000
# Making or dropping a partition takes a short exclusive lock on its table; it waits behind a
# long report rather than stalling the writers queued behind it, and is retried the next day.
_LOCK_TIMEOUT = "5s"


@dataclass
class Maintenance:
    """What one `maintain` run did."""

    created: int = 0
    dropped: list[str] = field(default_factory=list)
    ids_deleted: int = 0


def month_start(moment: datetime) -> datetime:
    """The first instant of `moment`'s UTC month."""
    moment = moment.astimezone(UTC)
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def add_months(start: datetime, months: int) -> datetime:
    """The first instant of the UTC month `months` after `start`'s."""
    first = month_start(start)
    index = first.year * 12 + first.month - 1 + months
    return first.replace(year=index // 12, month=index % 12 + 1)


def retention_cutoff(now: datetime, retention_days: int) -> datetime:
    """Rows before this instant may go: the start of the month holding now - retention.

    Whole months are dropped, so a row is kept at least `retention_days` and at most about a
    month longer.
    """
    return month_start(now - timedelta(days=retention_days))


def rated_request_months(rated: str) -> str:
    """SQL conditions that read only the months holding the requests of some ratings.

    For a query joining `production_feedback f` and `routing_requests r` on the request and
    keeping the ratings for which `rated` holds (a condition on production_feedback's own
    columns, e.g. "updated_at > now() - $1::interval"). A rating's time says nothing of its
    request's month, so PostgreSQL would read every month of both tables; the oldest request
    among those ratings bounds them (always true, so the result is the same) and the months
    before it are skipped at run time. A very old request rated now makes the query read from
    its month on: slower, still right.
    """
    # `rated` is SQL of ours, never input.
    oldest = f"(SELECT min(request_created_at) FROM production_feedback WHERE {rated})"  # noqa: S608
    return f"f.request_created_at >= {oldest} AND r.created_at >= {oldest}"


def is_missing_partition(exc: BaseException) -> bool:
    """True for PostgreSQL's refusal of a row that no partition accepts."""
    return isinstance(exc, asyncpg.CheckViolationError) and "no partition of relation" in str(exc)


async def ensure_months(conn: asyncpg.Connection, moments: Iterable[datetime]) -> int:
    """Make the partitions (of every partitioned table) for the months of `moments`."""
    months = sorted({month_start(m) for m in moments})
    created = 0
    async with conn.transaction():
        await conn.execute(f"SET LOCAL lock_timeout = '{_LOCK_TIMEOUT}'")
        for month in months:
            for table in PARTITIONED_TABLES:
                if await conn.fetchval("SELECT optimizer_ensure_partition($1, $2)", table, month):
                    created += 1
    if created:
        log.info("made %d partitions", created, extra={"months": [m.isoformat() for m in months]})
    return created


async def maintain(
    pool: asyncpg.Pool, retention_days: int, now: datetime | None = None
) -> Maintenance:
    """Make this month's and the next MONTHS_AHEAD months' partitions; apply the retention."""
    now = now or datetime.now(UTC)
    done = Maintenance()
    ahead = [add_months(now, n) for n in range(MONTHS_AHEAD + 1)]
    async with pool.acquire() as conn:
        done.created = await ensure_months(conn, ahead)
        if retention_days > 0:
            cutoff = retention_cutoff(now, retention_days)
            async with conn.transaction():
                await conn.execute(f"SET LOCAL lock_timeout = '{_LOCK_TIMEOUT}'")
                for table in reversed(PARTITIONED_TABLES):
                    rows = await conn.fetch(
                        "SELECT optimizer_drop_partitions($1, $2) AS name", table, cutoff
                    )
                    done.dropped.extend(r["name"] for r in rows)
            done.ids_deleted = await _delete_ids_before(conn, cutoff)
    if done.dropped or done.ids_deleted:
        log.info(
            "retention applied",
            extra={"dropped": done.dropped, "request_ids_deleted": done.ids_deleted},
        )
    return done


async def _delete_ids_before(conn: asyncpg.Connection, cutoff: datetime) -> int:
    deleted = 0
    while True:
        status: str = await conn.execute(
            """DELETE FROM request_ids WHERE request_id IN (
                   SELECT request_id FROM request_ids WHERE created_at < $1 LIMIT $2)""",
            cutoff,
            _ID_DELETE_SLICE,
        )
        count = int(status.rsplit(" ", 1)[-1])
        deleted += count
        if count < _ID_DELETE_SLICE:
            return deleted
