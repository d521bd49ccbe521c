"""The learner's logic over the database: retrain, restore, status. Used by service and CLI."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg

from schemas.messages import Override, OverridesPublished
from services.learner import store
from shared.metrics import OVERRIDES_ACTIVE, OVERRIDES_VERSION, RETRAINS
from shared.routing import learning
from shared.routing.catalog import Catalog
from shared.routing.retrain import RetrainRule, retrain
from shared.settings import Settings

log = logging.getLogger(__name__)

# One retrain at a time across every learner replica and CLI invocation.
RETRAIN_LOCK_KEY = 0x6F707432  # "opt2"

Publisher = Callable[[OverridesPublished], Awaitable[None]]


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _jsonable(v) for k, v in dataclasses.asdict(value).items()}
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


class Learner:
    def __init__(
        self, pool: asyncpg.Pool, settings: Settings, catalog: Catalog, publish: Publisher
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.catalog = catalog
        self.publish = publish

    async def current(self) -> OverridesPublished:
        version, overrides = await store.active_overrides(self.pool)
        trials = await store.current_trials(self.pool)
        return OverridesPublished(version=version, overrides=overrides, trials=trials)

    async def retrain(
        self,
        *,
        dry_run: bool,
        min_samples: int | None = None,
        confidence_threshold: float | None = None,
        trigger: str = "api",
        schedule_slot: str | None = None,
    ) -> dict[str, Any]:
        """Recompute overrides from feedback; write a new version unless `dry_run`."""
        params = {
            "value_per_good_usd": self.settings.learner_value_per_good_usd,
            "min_samples": min_samples or self.settings.learner_min_samples,
            "confidence_threshold": confidence_threshold
            or self.settings.learner_confidence_threshold,
            "window_days": self.settings.learner_window_days,
        }
        started = datetime.now(UTC)
        async with self.pool.acquire() as conn:
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", RETRAIN_LOCK_KEY):
                return {"status": "busy", "detail": "another retrain is running; try again"}
            try:
                if schedule_slot and await store.slot_taken(conn, schedule_slot):
                    return {"status": "skipped", "detail": f"slot {schedule_slot} already ran"}
                result = await self._retrain_locked(
                    conn, params, dry_run, trigger, started, schedule_slot
                )
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", RETRAIN_LOCK_KEY)
        RETRAINS.labels(result["status"]).inc()
        published = result.pop("published", None)
        if published is not None:
            OVERRIDES_ACTIVE.set(len(published.overrides))
            OVERRIDES_VERSION.set(published.version)
            await self.publish(published)
        return result

    async def _retrain_locked(
        self,
        conn: asyncpg.Connection,
        params: dict[str, Any],
        dry_run: bool,
        trigger: str,
        started: datetime,
        schedule_slot: str | None,
    ) -> dict[str, Any]:
        rows = await store.aggregate(conn, params["window_days"])
        evidence = [
            learning.ModelStats(
                pattern=r["pattern"],
                model=r["model"],
                samples=r["samples"],
                good=r["good"],
                avg_quality=r["avg_quality"],
                correct_rate=r["correct_rate"],
            )
            for r in rows
        ]
        rule = RetrainRule(
            params["min_samples"],
            params["confidence_threshold"],
            value_per_good_usd=params["value_per_good_usd"],
        )
        proposed = retrain(evidence, self.catalog, rule)
        trials = proposed.trials
        version, current = await store.active_overrides(conn)
        diff = _jsonable(proposed.diff(current))
        base = {
            "params": params,
            "diff": diff,
            "trials": trials,
            "evidence": [_jsonable(s) for s in proposed.evidence],
            "current_version": version,
        }
        if dry_run:
            return {"status": "dry_run", "written": False, **base}
        changed = proposed.changes(current, await store.current_trials(conn))
        async with conn.transaction():
            new_version = await store.next_version(conn) if changed else None
            if new_version is not None:
                await store.write_version(conn, new_version, proposed.overrides)
            run_id = await store.record_run(
                conn,
                trigger=trigger,
                dry_run=False,
                status="applied" if changed else "unchanged",
                version=new_version,
                params=params,
                diff=diff,
                started_at=started,
                schedule_slot=schedule_slot,
                trials=trials,
            )
        published = None
        if new_version is not None:
            published = OverridesPublished(
                version=new_version, overrides=proposed.overrides, trials=trials
            )
        log.info("retrain run %s: %s", run_id, "new version" if changed else "no change")
        return {
            "status": "applied" if changed else "unchanged",
            "written": changed,
            "run_id": run_id,
            "version": new_version or version,
            "published": published,
            **base,
        }

    async def restore(self, version: int) -> dict[str, Any]:
        """Make `version`'s overrides current again, as a new version (history stays linear)."""
        started = datetime.now(UTC)
        async with self.pool.acquire() as conn:
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", RETRAIN_LOCK_KEY):
                return {"status": "busy", "detail": "a retrain is running; try again"}
            try:
                old = await store.version_overrides(conn, version)
                if old is None:
                    return {"status": "not_found", "detail": f"no applied version {version}"}
                _, current = await store.active_overrides(conn)
                diff = _jsonable(learning.diff_overrides(current, old))
                trials = await store.version_trials(conn, version)
                async with conn.transaction():
                    new_version = await store.next_version(conn)
                    await store.write_version(conn, new_version, old)
                    await store.record_run(
                        conn,
                        trigger="restore",
                        dry_run=False,
                        status="applied",
                        version=new_version,
                        params={"restored_version": version},
                        diff=diff,
                        started_at=started,
                        trials=trials,
                    )
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", RETRAIN_LOCK_KEY)
        await self.publish(OverridesPublished(version=new_version, overrides=old, trials=trials))
        return {
            "status": "restored",
            "version": new_version,
            "restored_from": version,
            "diff": diff,
        }

    async def status(self, next_run: datetime | None) -> dict[str, Any]:
        version, overrides = await store.active_overrides(self.pool)
        distribution = {"high": 0, "medium": 0, "low": 0}
        for override in overrides:
            distribution[override.confidence_level] += 1
        runs = await store.recent_runs(self.pool, limit=1)
        coverage = await store.coverage(self.pool, 1)
        return {
            "total_overrides": len(overrides),
            "version": version,
            "confidence_distribution": distribution,
            "last_retrain": _jsonable_run(runs[0]) if runs else None,
            "next_scheduled_run": next_run.isoformat() if next_run else None,
            "recommendation_coverage": round(coverage["share"], 4),
            "coverage_detail": {**coverage, "window": "24 hours"},
            "overrides": [o.model_dump() for o in overrides],
        }

    async def runs(self, limit: int = 20) -> list[dict[str, Any]]:
        return [_jsonable_run(r) for r in await store.recent_runs(self.pool, limit)]


def _jsonable_run(run: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in run.items()}


__all__ = ["Learner", "Override"]
