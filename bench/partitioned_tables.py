"""The learner's aggregate and the dashboard's reports on a big ledger, before and after the
monthly partitions of migrations 0010-0011 (and the queries as they were and as they are).

Builds a database of its own in the old layout (migrations up to 0009), fills it with synthetic
requests spread over a year (generate_series, server side) and ratings on a share of them,
times the queries, moves it to the partitioned layout (timing the migration), times them
again, prints the EXPLAIN plans of both and drops the database:

    .venv/bin/python bench/partitioned_tables.py [--rows 10000000] [--days 365] [--keep]

The PostgreSQL server's own settings are used as they are (say which in a report). Heavy: at
10M rows it writes about 8 GB and takes several minutes; run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from services.learner.store import AGGREGATE_FEEDBACK
from services.ledger import reports
from shared.storage.migrate import migrate

# The learner's aggregate as it was before the partitions (migrations/0010-0011).
AGGREGATE_BEFORE = """
SELECT r.pattern, r.model, count(*)::int AS samples,
       sum(CASE WHEN f.is_correct IS TRUE OR (f.is_correct IS NULL AND f.quality_score >= 4)
                THEN 1 ELSE 0 END)::int AS good,
       avg(f.quality_score)::float AS avg_quality,
       avg(CASE WHEN f.is_correct THEN 1.0 WHEN f.is_correct = false THEN 0.0 END)::float
           AS correct_rate
FROM production_feedback f JOIN routing_requests r USING (request_id)
WHERE f.updated_at > now() - $1::interval AND r.ok AND r.model IS NOT NULL
GROUP BY r.pattern, r.model
ORDER BY r.pattern, r.model
"""
DAILY = reports._DAILY
# The dashboard's daily series as it was before (every row joined to its day, then grouped).
DAILY_BEFORE = """
WITH recent AS (
    SELECT (created_at AT TIME ZONE 'UTC')::date AS day, cost_usd, baseline_cost_usd, savings_usd
    FROM routing_requests WHERE created_at > now() - $1::interval
)
SELECT d::date AS day, count(r.day)::int AS requests,
       coalesce(sum(r.cost_usd), 0)::float8 AS cost_usd,
       coalesce(sum(r.baseline_cost_usd), 0)::float8 AS baseline_cost_usd,
       coalesce(sum(r.savings_usd), 0)::float8 AS savings_usd
FROM generate_series(((now() - $1::interval) AT TIME ZONE 'UTC')::date,
                     (now() AT TIME ZONE 'UTC')::date, interval '1 day') AS d
LEFT JOIN recent r ON r.day = d::date
GROUP BY d ORDER BY d
"""

PATTERNS = ["code", "math", "creative", "analysis", "factual", "chat", "summary", "translation"]
MODELS = [
    ("anthropic", "claude-haiku-4-5"),
    ("anthropic", "claude-sonnet-4-5"),
    ("anthropic", "claude-opus-4-5"),
    ("google", "gemini-2.5-flash"),
    ("google", "gemini-2.5-pro"),
    ("openrouter", "openai/gpt-4o-mini"),
]

_FILL_REQUESTS = """
INSERT INTO routing_requests (request_id, created_at, recorded_at, ok, provider, model, pattern,
    complexity, tokens_in, tokens_out, cost_usd, baseline_cost_usd, savings_usd, latency_ms,
    attempts, fallback_path, explored, error_kind, prompt_hash, api_key_id, streamed,
    answer_chars)
SELECT gen_random_uuid(), at, at + interval '40 ms', g % 40 <> 0,
       ($5::text[])[1 + g % 6], ($6::text[])[1 + g % 6], ($4::text[])[1 + (g / 7) % 8],
       (ARRAY['low', 'medium', 'high'])[1 + g % 3], 50 + g % 2000, 20 + g % 800,
       (g % 1000) * 0.000002, (g % 1000) * 0.00001, (g % 1000) * 0.000008, 200 + g % 3000,
       1 + (g % 50 = 0)::int,
       CASE WHEN g % 50 = 0 THEN '[{"provider": "google", "model": "gemini-2.5-flash"}]'::jsonb
            ELSE '[]'::jsonb END,
       g % 20 = 0, CASE WHEN g % 40 = 0 THEN 'provider_error' END, md5(g::text),
       'key-' || g % 50, g % 4 = 0, g % 4000
FROM (SELECT g, now() - ($3::float8 * (g::float8 / $2)) * interval '1 day' AS at
      FROM generate_series($1::bigint, $1::bigint + $7 - 1) AS g) AS s
"""

# A tenth of the requests is rated, within two days of the answer.
_FILL_FEEDBACK = """
INSERT INTO production_feedback (request_id, quality_score, is_correct, api_key_id, created_at,
                                 updated_at)
SELECT request_id, 1 + tokens_in % 5,
       CASE WHEN tokens_out % 3 = 0 THEN NULL ELSE tokens_out % 2 = 0 END, api_key_id,
       created_at + (tokens_in % 48) * interval '1 hour',
       created_at + (tokens_in % 48) * interval '1 hour'
FROM routing_requests WHERE tokens_in % 10 = 0
"""


async def _fill(url: str, rows: int, days: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        # Loading without the indexes and building them afterwards is several times faster;
        # the result is the same old layout.
        indexes = await conn.fetch(
            """SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS def, i.indisprimary
               FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
               WHERE i.indrelid IN ('routing_requests'::regclass,
                                    'production_feedback'::regclass)"""
        )
        await conn.execute(
            "ALTER TABLE production_feedback "
            "DROP CONSTRAINT production_feedback_request_id_fkey, "
            "DROP CONSTRAINT production_feedback_pkey"
        )
        await conn.execute("ALTER TABLE routing_requests DROP CONSTRAINT routing_requests_pkey")
        for index in indexes:
            await conn.execute(f'DROP INDEX IF EXISTS "{index["name"]}"')
        chunk = 1_000_000
        providers = [p for p, _ in MODELS]
        models = [m for _, m in MODELS]
        for start in range(0, rows, chunk):
            await conn.execute(
                _FILL_REQUESTS, start, rows, days, PATTERNS, providers, models,
                min(chunk, rows - start), timeout=None,
            )  # fmt: skip
            print(f"  {min(start + chunk, rows):>11,} requests", flush=True)
        await conn.execute(_FILL_FEEDBACK, timeout=None)
        await conn.execute(
            "ALTER TABLE routing_requests ADD PRIMARY KEY (request_id)", timeout=None
        )
        await conn.execute(
            "ALTER TABLE production_feedback ADD PRIMARY KEY (request_id), "
            "ADD CONSTRAINT production_feedback_request_id_fkey FOREIGN KEY (request_id) "
            "REFERENCES routing_requests (request_id) ON DELETE CASCADE",
            timeout=None,
        )
        for index in indexes:
            if not index["indisprimary"]:
                await conn.execute(index["def"], timeout=None)
        await conn.execute("VACUUM ANALYZE routing_requests", timeout=None)
        await conn.execute("VACUUM ANALYZE production_feedback", timeout=None)
    finally:
        await conn.close()


async def _pool(url: str) -> asyncpg.Pool:
    # No statement timeout: the services' pools stop a statement after 30 s, and a VACUUM of
    # ten million rows on a busy machine takes longer.
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2, command_timeout=None)
    assert pool is not None
    return pool


async def _fill_partitioned(url: str, rows: int, days: int) -> None:
    """The same rows written straight into the partitioned layout (no migration to wait for)."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            """SELECT optimizer_ensure_partition(t, m)
               FROM unnest(ARRAY['routing_requests', 'production_feedback']) AS t,
                    generate_series(now() - $1 * interval '1 day', now(), interval '1 month')
                    AS m""",
            days + 31,
        )
        providers = [p for p, _ in MODELS]
        models = [m for _, m in MODELS]
        chunk = 1_000_000
        for start in range(0, rows, chunk):
            await conn.execute(
                _FILL_REQUESTS, start, rows, days, PATTERNS, providers, models,
                min(chunk, rows - start), timeout=None,
            )  # fmt: skip
            print(f"  {min(start + chunk, rows):>11,} requests", flush=True)
        await conn.execute(
            "INSERT INTO request_ids SELECT request_id, created_at FROM routing_requests",
            timeout=None,
        )
        await conn.execute(
            _FILL_FEEDBACK.replace("updated_at)", "updated_at, request_created_at)").replace(
                "created_at + (tokens_in % 48) * interval '1 hour'\nFROM",
                "created_at + (tokens_in % 48) * interval '1 hour', created_at\nFROM",
            ),
            timeout=None,
        )
    finally:
        await conn.close()


async def _median_ms(action: Callable[[], Awaitable[Any]], runs: int) -> float:
    await action()  # warm the cache: every figure is a warm one
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def _measure(
    pool: asyncpg.Pool, aggregate_sql: str, daily_sql: str, runs: int
) -> dict[str, float]:
    window = timedelta(days=30)
    return {
        "learner aggregate (30 days)": await _median_ms(
            lambda: pool.fetch(aggregate_sql, window, timeout=None), runs
        ),
        "daily report (30 days)": await _median_ms(
            lambda: pool.fetch(daily_sql, window, timeout=None), runs
        ),
        "dashboard totals (30 days)": await _median_ms(
            lambda: pool.fetch(reports._TOTALS, window, timeout=None),
            runs,
        ),
        "last 24 hours by model": await _median_ms(
            lambda: pool.fetch(
                "SELECT provider, model, count(*) FROM routing_requests "
                "WHERE created_at > now() - interval '24 hours' GROUP BY provider, model",
                timeout=None,
            ),
            runs,
        ),
    }


async def _plans(pool: asyncpg.Pool, aggregate_sql: str, daily_sql: str) -> dict[str, str]:
    window = timedelta(days=30)
    plans = {}
    for name, sql in (("learner aggregate", aggregate_sql), ("daily report", daily_sql)):
        rows = await pool.fetch(
            f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}", window, timeout=None
        )
        plans[name] = "\n".join(r[0] for r in rows)
    return plans


async def _sizes(pool: asyncpg.Pool) -> str:
    row = await pool.fetchrow(
        """SELECT (SELECT count(*) FROM routing_requests) AS requests,
                  (SELECT count(*) FROM production_feedback) AS ratings,
                  pg_size_pretty(pg_database_size(current_database())) AS size""",
        timeout=None,
    )
    return f"{row['requests']:,} requests, {row['ratings']:,} ratings, database {row['size']}"


def _show(when: str, times: dict[str, float], plans: dict[str, str]) -> None:
    """Print a layout's figures at once: a long run that fails later keeps them."""
    for query, ms in times.items():
        print(f"{when}: {query}: {ms:.0f} ms", flush=True)
    for query, plan in plans.items():
        print(f"\n--- {query}, {when} ---\n{plan}\n", flush=True)


async def _time_after(url: str, runs: int) -> dict[str, float]:
    pool = await _pool(url)
    try:
        # What autovacuum does soon after a bulk load.
        await pool.execute("VACUUM ANALYZE")
        print("after:", await _sizes(pool), flush=True)
        times = await _measure(pool, AGGREGATE_FEEDBACK, DAILY, runs)
        _show("after", times, await _plans(pool, AGGREGATE_FEEDBACK, DAILY))
    finally:
        await pool.close()
    return times


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=365, help="the requests span this many days")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per query (median)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--after-only",
        action="store_true",
        help="fill the partitioned layout directly and time it alone (no migration)",
    )
    args = parser.parse_args()

    base = urlsplit(os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/x"))
    name = f"optimizer_bench_partitions_{uuid.uuid4().hex[:6]}"
    url = urlunsplit(base._replace(path=f"/{name}"))
    admin = await asyncpg.connect(urlunsplit(base._replace(path="/postgres")))
    settings = {
        key: await admin.fetchval(f"SHOW {key}")
        for key in (
            "server_version",
            "shared_buffers",
            "work_mem",
            "max_parallel_workers_per_gather",
        )
    }
    print("PostgreSQL", settings, f"database {name}", flush=True)
    try:
        if args.after_only:
            await migrate(url, up_to=11, out=[])
            started = time.perf_counter()
            await _fill_partitioned(url, args.rows, args.days)
            print(f"filled in {time.perf_counter() - started:.0f} s", flush=True)
            await _time_after(url, args.runs)
            return
        await migrate(url, up_to=9, out=[])
        started = time.perf_counter()
        await _fill(url, args.rows, args.days)
        print(f"filled in {time.perf_counter() - started:.0f} s", flush=True)
        results: dict[str, dict[str, float]] = {}
        pool = await _pool(url)
        print("before:", await _sizes(pool), flush=True)
        results["before"] = await _measure(pool, AGGREGATE_BEFORE, DAILY_BEFORE, args.runs)
        _show("before", results["before"], await _plans(pool, AGGREGATE_BEFORE, DAILY_BEFORE))
        await pool.close()

        started = time.perf_counter()
        await migrate(url, up_to=11, out=[])
        print(f"migrations 0010-0011 took {time.perf_counter() - started:.0f} s", flush=True)
        results["after"] = await _time_after(url, args.runs)

        print(
            f"\n{'query (median of ' + str(args.runs) + ', warm)':<34} {'before':>10} {'after':>10}"
        )
        for query, before in results["before"].items():
            print(f"{query:<34} {before:>8.0f} ms {results['after'][query]:>8.0f} ms")
    finally:
        if not args.keep:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
