"""Migrations on a fresh database: tables, columns, idempotence, concurrent runs."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from shared.storage.migrate import discover, migrate


async def _columns(url: str, table: str) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_name = $1", table
        )
    finally:
        await conn.close()
    return {r["column_name"] for r in rows}


async def test_fresh_database_then_second_run_changes_nothing(fresh_url: str) -> None:
    first: list[str] = []
    created = await migrate(fresh_url, out=first)
    assert {
        "routing_requests",
        "production_feedback",
        "learning_overrides",
        "learning_runs",
    } <= set(created)
    assert "Created table routing_requests" in first
    assert first[-1] == "Migration complete!"

    second: list[str] = []
    assert await migrate(fresh_url, out=second) == []
    assert any("nothing changed" in line for line in second)
    assert second[-1] == "Migration complete!"

    assert {"request_id", "provider", "model", "created_at"} <= await _columns(
        fresh_url, "routing_requests"
    )
    assert {"request_id", "quality_score", "is_correct", "created_at"} <= await _columns(
        fresh_url, "production_feedback"
    )
    assert {"pattern", "model", "confidence_level"} <= await _columns(
        fresh_url, "learning_overrides"
    )


async def test_deployment_guide_queries_run_and_constraints_hold(fresh_url: str) -> None:
    await migrate(fresh_url)
    conn = await asyncpg.connect(fresh_url)
    try:
        await conn.fetch(
            "SELECT provider, model, COUNT(*) FROM routing_requests "
            "WHERE created_at > NOW() - INTERVAL '24 hours' GROUP BY provider, model"
        )
        await conn.fetch("SELECT quality_score, COUNT(*) FROM production_feedback GROUP BY 1")
        await conn.fetch("SELECT * FROM learning_overrides WHERE confidence_level = 'high'")
        request_id = uuid.uuid4()
        created_at = await conn.fetchval(
            "INSERT INTO routing_requests (request_id, ok, pattern, complexity, prompt_hash) "
            "VALUES ($1, true, 'code', 'low', 'h') RETURNING created_at",
            request_id,
        )
        rate = (
            "INSERT INTO production_feedback (request_id, request_created_at, quality_score) "
            "VALUES ($1, $2, $3)"
        )
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(rate, request_id, created_at, 6)
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await conn.execute(rate, uuid.uuid4(), created_at, 3)
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(
                "INSERT INTO learning_overrides (version, pattern, model, provider, "
                "confidence_level, confidence_bound, sample_count) "
                "VALUES (1, 'code', 'm', 'p', 'very high', 0.9, 10)"
            )
    finally:
        await conn.close()


async def test_two_runs_at_once_do_not_collide(fresh_url: str) -> None:
    await migrate(fresh_url)  # database exists; now race two runs on an up-to-date schema
    results = await asyncio.gather(migrate(fresh_url), migrate(fresh_url))
    assert results == [[], []]
    conn = await asyncpg.connect(fresh_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == len(discover())
    finally:
        await conn.close()


async def test_two_runs_race_on_a_new_database(fresh_url: str) -> None:
    results = await asyncio.gather(migrate(fresh_url), migrate(fresh_url), return_exceptions=True)
    assert not [r for r in results if isinstance(r, BaseException)], results
    created = [r for r in results if r]
    assert len(created) == 1, "exactly one run creates the tables"
