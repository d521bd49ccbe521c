"""Which ratings a quality model fit learns, over the real database: re-ratings and restores.

The learner is driven directly (no broker: its publisher is a list) on a database of its own;
requests and their stored vectors are written as the ledger writes them, ratings through the
ledger's own upsert. A fit only takes ratings older than `RATING_SETTLE`; it is set to zero here.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import numpy as np
import pytest

from schemas.messages import QualityModelPublished, SubmitFeedback
from services.learner import quality
from services.learner.quality import QualityLearner
from services.ledger.store import store_feedback
from shared.routing.bandit.context import CONTEXT_SIZE
from shared.routing.bandit.quality_model import QualityModel
from shared.routing.catalog import load_catalog
from shared.routing.stored_features import CONTEXT_NUMBER
from shared.settings import Settings
from shared.storage import partitions
from shared.storage.db import create_pool
from tests.conftest import isolated_settings

MODEL = "simulated-fast"


@pytest.fixture
async def learner(service_urls: tuple[str, str]) -> AsyncIterator[QualityLearner]:
    previous, quality.RATING_SETTLE = quality.RATING_SETTLE, timedelta(0)
    async with isolated_settings(service_urls, uuid.uuid4().hex[:8]) as settings:
        pool = await create_pool(settings.database_url, min_size=1, max_size=2)
        sent: list[QualityModelPublished] = []

        async def publish(event: QualityModelPublished) -> None:
            sent.append(event)

        try:
            yield QualityLearner(pool, Settings(database_url=settings.database_url),
                                 load_catalog(), publish)  # fmt: skip
        finally:
            await pool.close()
            quality.RATING_SETTLE = previous


def _vector(seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal(CONTEXT_SIZE).astype(np.float32) * 0.3
    x[0] = 1.0
    return x


async def _request(
    pool: asyncpg.Pool, seed: int, key: str | None = None, reason: str = "classified code/medium"
) -> uuid.UUID:
    """A routed request answered by MODEL, with its stored context vector."""
    request_id, now = uuid.uuid4(), datetime.now(UTC)
    async with pool.acquire() as conn:
        await partitions.ensure_months(conn, [now])
        await conn.execute("INSERT INTO request_ids VALUES ($1, $2)", request_id, now)
        await conn.execute(
            """INSERT INTO routing_requests (request_id, created_at, ok, provider, model,
                   pattern, complexity, prompt_hash, tokens_in, tokens_out, api_key_id,
                   decision_reason)
               VALUES ($1, $2, true, 'simulated', $3, 'code', 'medium', 'h', 200, 100, $4, $5)""",
            request_id, now, MODEL, key, reason,
        )  # fmt: skip
        await conn.execute(
            "INSERT INTO request_features VALUES ($1, $2, $3, $4)",
            request_id, now, CONTEXT_NUMBER, _vector(seed).astype("<f2").tobytes(),
        )  # fmt: skip
    return request_id


async def _rate(pool: asyncpg.Pool, request_id: uuid.UUID, score: int) -> None:
    rating = SubmitFeedback(request_id=request_id, quality_score=score, is_correct=score >= 4)
    await store_feedback(pool, rating)


async def _learned(pool: asyncpg.Pool, version: int) -> float:
    """How many ratings MODEL's part of a stored version has learned in all."""
    model = QualityModel.from_bytes(
        await pool.fetchval("SELECT model FROM quality_models WHERE version = $1", version)
    )
    return float(model.counts[list(model.model_ids).index(MODEL)])


async def _fit(learner: QualityLearner) -> dict:
    result = await learner.fit(dry_run=False, trigger="test")
    assert result["status"] in ("applied", "unchanged"), result
    return result


async def test_a_rerating_after_the_fit_is_learned_as_a_correction(
    learner: QualityLearner,
) -> None:
    pool = learner.pool
    rated = [await _request(pool, seed) for seed in range(3)]
    for request_id in rated:
        await _rate(pool, request_id, 1)
    first = await _fit(learner)
    assert first["rows_used"] == 3
    # The first request is re-rated: the newer value is learned by the next fit, once.
    await _rate(pool, rated[0], 5)
    second = await _fit(learner)
    assert second["status"] == "applied" and second["rows_used"] == 1
    assert (await _fit(learner))["status"] == "unchanged"
    # Re-rated twice between fits: the latest value, once.
    await _rate(pool, rated[1], 5)
    await _rate(pool, rated[1], 4)
    third = await _fit(learner)
    assert third["rows_used"] == 1
    # The superseded ratings' evidence stays (a Laplace posterior does not unlearn): 3 + 1 + 1.
    assert await _learned(pool, third["version"]) == 5


async def test_the_first_fit_after_a_restore_learns_what_the_restored_version_had_not_seen(
    learner: QualityLearner,
) -> None:
    pool = learner.pool
    seen = [await _request(pool, seed) for seed in range(4)]
    for request_id in seen:
        await _rate(pool, request_id, 5)
    one = await _fit(learner)
    assert one["version"] == 1 and one["rows_used"] == 4
    later = [await _request(pool, seed) for seed in range(4, 10)]
    for request_id in later:
        await _rate(pool, request_id, 1)
    two = await _fit(learner)
    assert two["version"] == 2 and two["rows_used"] == 6
    # A re-rating of a rating version 1 learned, given after it: version 1 has not seen it.
    await _rate(pool, seen[0], 1)
    three = await _fit(learner)
    assert three["version"] == 3 and three["rows_used"] == 1

    restored = await learner.restore(1)
    assert restored == {"status": "restored", "version": 4, "restored_from": 1}
    async with pool.acquire() as conn:
        marks = dict(await conn.fetch("SELECT version, fitted_through FROM quality_models"))
    assert marks[4] == marks[1], "the restored version's watermark comes with its model"
    # Nothing new since: the next fit still learns the 6 + 1 ratings given after version 1,
    # each once, and one rating given after the restore.
    after = await _request(pool, 10)
    await _rate(pool, after, 5)
    five = await _fit(learner)
    assert five["version"] == 5 and five["parent_version"] == 4
    assert five["rows_used"] == 6 + 1 + 1
    assert await _learned(pool, 5) == await _learned(pool, 1) + 8
    assert (await _fit(learner))["status"] == "unchanged"


async def test_the_dry_run_diff_applies_each_keys_rules_and_leaves_forced_requests_out(
    learner: QualityLearner,
) -> None:
    pool = learner.pool
    await pool.execute(
        """INSERT INTO api_keys (id, key_hash, scope, allowed_models, quality_target)
           VALUES ('only-fast', repeat('a', 64), 'client', ARRAY[$1], 0.5),
                  ('no-fast', repeat('b', 64), 'client', ARRAY['simulated-premium'], NULL)""",
        MODEL,
    )
    for seed in range(3):
        await _request(pool, seed, key="only-fast")
        await _request(pool, seed, key="no-fast")
        await _request(pool, seed, reason=f"classified code/medium; forced model {MODEL}")
    diff = (await learner.fit(dry_run=True))["diff"]
    assert diff["forced"] == 3 and diff["requests"] == 6 and diff["no_candidate"] == 0
    # Each key's requests stay within its models: nothing can move.
    assert diff["before"] == diff["after"] == {MODEL: 3, "simulated-premium": 3}
    assert diff["moved"] == 0


async def test_a_full_refit_learns_each_request_once_at_its_latest_rating(
    learner: QualityLearner,
) -> None:
    pool = learner.pool
    rated = [await _request(pool, seed) for seed in range(4)]
    for request_id in rated:
        await _rate(pool, request_id, 1)
    assert (await _fit(learner))["rows_used"] == 4
    await _rate(pool, rated[0], 5)
    await _rate(pool, rated[1], 5)
    incremental = await learner.fit(dry_run=True)
    assert incremental["rows_used"] == 2 and incremental["full"] is False
    full = await learner.fit(dry_run=False, full=True)
    assert full["status"] == "applied" and full["full"] is True
    assert full["rows_used"] == 4 and full["fitted_from"] is None and full["parent_version"] == 1
    assert await _learned(pool, full["version"]) == 4, "4 requests, 4 ratings: none superseded"
    # The same model as the priors fitted on the latest values alone.
    refit = QualityModel.from_bytes(
        await pool.fetchval("SELECT model FROM quality_models WHERE version = $1", full["version"])
    )
    x = np.stack([_vector(seed).astype(np.float16).astype(np.float64) for seed in range(4)])
    y = np.array([1.0, 1.0, 0.0, 0.0])
    prior = QualityModel.prior(learner.catalog)
    expected = prior.updated_arrays({list(prior.model_ids).index(MODEL): (x, y)})
    np.testing.assert_allclose(refit.mean, expected.mean, rtol=1e-9, atol=1e-12)
    # Incremental fits go on from the refit's watermark.
    assert (await _fit(learner))["status"] == "unchanged"
