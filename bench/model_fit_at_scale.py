"""Time and memory of the learner's quality model fit over N stored rated requests.

The production path, end to end: the learner's SQL reads the ratings joined to their stored
float16 context vectors (one binary COPY parsed by numpy), maps them to outcomes, runs the bandit's
retrain step, and diffs the last day's traffic through both models (a dry run: everything but
the write). The rows are synthetic (random contexts over the catalog's models, ratings from a
hidden rule), in a database of their own that is dropped afterwards:

    .venv/bin/python bench/model_fit_at_scale.py --rows 100000 1000000

Prints, per size: seconds to insert (not part of the fit), seconds of the fit (wall, and CPU
of this process: PostgreSQL's share of the read is not in it) and its parts, and the process's
peak RSS. A first fit reads every retained rating; later fits only those
since the last one (LEARNER_MODEL_FIT_INTERVAL_S), so this is the worst case.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import numpy as np

from services.learner import quality
from services.learner.quality import QualityLearner
from shared.routing.bandit.context import CONTEXT_SIZE, PATTERN_SLICE
from shared.routing.catalog import PATTERNS, load_catalog
from shared.routing.stored_features import CONTEXT_NUMBER
from shared.settings import Settings
from shared.storage import partitions
from shared.storage.migrate import migrate

MODELS = 8  # models of the catalog the synthetic traffic is spread over
CHUNK = 50_000


def _contexts(rng: np.random.Generator, n: int) -> np.ndarray:
    x = np.zeros((n, CONTEXT_SIZE), dtype=np.float32)
    x[:, 0] = 1.0
    x[:, 1 : PATTERN_SLICE.start] = rng.standard_normal((n, PATTERN_SLICE.start - 1))
    x[np.arange(n), PATTERN_SLICE.start + rng.integers(0, len(PATTERNS), n)] = 1.0
    x[:, -1] = rng.uniform(-1, 1, n)
    return x


async def _insert(conn: asyncpg.Connection, rows: int, models: list[str]) -> None:
    rng = np.random.default_rng(0)
    now = datetime.now(UTC)
    await partitions.ensure_months(conn, [now - timedelta(days=d) for d in (0, 15, 29)])
    for start in range(0, rows, CHUNK):
        n = min(CHUNK, rows - start)
        ids = [uuid.uuid4() for _ in range(n)]
        ages = rng.uniform(0, 20 * 86400, n)
        created = [now - timedelta(seconds=float(a)) for a in ages]
        chosen = rng.integers(0, len(models), n)
        x = _contexts(rng, n)
        # Hidden rule: a model's chance of a good answer rises with its index and with the
        # first embedding coordinate, so the fit has something to find.
        good = rng.random(n) < 1 / (1 + np.exp(-(chosen / len(models) * 2 + x[:, 1])))
        await conn.copy_records_to_table(
            "request_ids", records=list(zip(ids, created, strict=True))
        )
        await conn.copy_records_to_table(
            "routing_requests",
            columns=["request_id", "created_at", "ok", "provider", "model", "pattern",
                     "complexity", "prompt_hash", "tokens_in", "tokens_out"],
            records=[
                (i, c, True, "simulated", models[m], "code", "medium", "h", 200, 100)
                for i, c, m in zip(ids, created, chosen, strict=True)
            ],
        )  # fmt: skip
        await conn.copy_records_to_table(
            "request_features",
            records=[
                (i, c, CONTEXT_NUMBER, v.astype("<f2").tobytes())
                for i, c, v in zip(ids, created, x, strict=True)
            ],
        )
        await conn.copy_records_to_table(
            "production_feedback",
            columns=["request_id", "request_created_at", "quality_score", "is_correct",
                     "created_at", "updated_at"],
            records=[
                (i, c, 5 if g else 1, bool(g), c + timedelta(minutes=5), c + timedelta(minutes=5))
                for i, c, g in zip(ids, created, good, strict=True)
            ],
        )  # fmt: skip


async def _one(base_url: str, rows: int) -> None:
    parts = urlsplit(base_url)
    name = f"optimizer_bench_fit_{uuid.uuid4().hex[:8]}"
    url = urlunsplit(parts._replace(path=f"/{name}"))
    await migrate(url, out=[])
    catalog = load_catalog()
    models = [m.id for m in catalog.models if m.provider == "simulated"]
    models += [m.id for m in catalog.models if m.id not in models][: MODELS - len(models)]
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            started = time.perf_counter()
            await _insert(conn, rows, models)
            # What autovacuum does to tables that grew: without statistics the planner reads
            # the vectors one index probe at a time (8.8 s instead of ~1 s for 100,000).
            await conn.execute("ANALYZE")
            inserted = time.perf_counter() - started

        async def unused(_: object) -> None:
            return None

        learner = QualityLearner(pool, Settings(database_url=url), catalog, unused)
        quality.RATING_SETTLE = timedelta(0)
        started, cpu = time.perf_counter(), time.process_time()
        result = await learner.fit(dry_run=True, trigger="bench")
        took, cpu = time.perf_counter() - started, time.process_time() - cpu
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"{rows:>9,} rated requests: insert {inserted:6.1f} s, "
            f"fit (dry run) {took:6.1f} s wall ({cpu:.1f} s CPU of this process; wall per part: "
            f"{result['seconds']}), {result['rows_used']:,} rows used, diff over "
            f"{result['diff']['requests']:,} recent requests, peak RSS {peak:,.0f} MB"
        )
    finally:
        await pool.close()
        admin = await asyncpg.connect(urlunsplit(parts._replace(path="/postgres")))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000])
    parser.add_argument("--database-url", default=Settings().database_url)
    args = parser.parse_args()
    for rows in args.rows:
        asyncio.run(_one(args.database_url, rows))


if __name__ == "__main__":
    main()
