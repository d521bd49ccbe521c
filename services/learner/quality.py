"""The learner's quality model over the database: fit, dry run, restore, current, versions.

A fit starts from the active version (the catalog priors when there is none, or when the active
one was fitted on another context layout), adds each rating that came since that version's
`fitted_through` through the bandit's retrain step, writes the result as a new version, makes it
active and publishes it to every router. One fit or restore at a time across learner replicas
and CLI runs (an advisory lock). See docs/learning.md#in-production.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import numpy as np
import numpy.typing as npt

from schemas.messages import QualityModelPublished
from services.learner import quality_store
from shared.metrics import MODEL_FITS, QUALITY_MODEL_VERSION
from shared.routing.bandit.context import CONTEXT_SIZE
from shared.routing.bandit.outcomes import outcome_values
from shared.routing.bandit.quality_model import ModelFormatError, QualityModel
from shared.routing.catalog import Catalog
from shared.routing.model_diff import PastRequest, traffic_moves
from shared.routing.stored_features import CONTEXT_NUMBER, decode_features
from shared.settings import Settings

log = logging.getLogger(__name__)

MODEL_LOCK_KEY = 0x6F707433  # "opt3": one fit or restore at a time
# Ratings younger than this wait for the next fit: a rating committed a moment after the fit
# read the clock but stamped before it would otherwise fall behind the watermark for good.
RATING_SETTLE = timedelta(seconds=10)
# The dry-run diff replays this much recent traffic (the newest requests first).
DIFF_WINDOW = timedelta(hours=24)
DIFF_MAX_REQUESTS = 5_000
_BEGINNING = datetime(2000, 1, 1, tzinfo=UTC)

ModelPublisher = Callable[[QualityModelPublished], Awaitable[None]]


Batches = dict[str, tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]]


def retrain_arrays(model: QualityModel, batches: Batches) -> QualityModel:
    """The bandit's retrain step (`retrain.retrain_quality_model`: `model.updated(outcomes)`,
    which groups the outcomes into these arrays) fed the arrays directly: a million ratings
    are then a few matrices, not a million objects. Models it does not know are skipped."""
    rows = {model_id: i for i, model_id in enumerate(model.model_ids)}
    return model.updated_arrays(
        {rows[m]: batch for m, batch in batches.items() if m in rows and len(batch[1])}
    )


def _past_request(row: asyncpg.Record) -> PastRequest:
    """A recent request and its key's rules, as the dry-run diff decides it."""

    def names(values: list[str] | None) -> frozenset[str] | None:
        return None if values is None else frozenset(values)

    return PastRequest(
        decode_features(row["features"]),
        row["tokens_in"],
        row["tokens_out"],
        quality_target=row["quality_target"],
        min_quality=row["min_quality"],
        allowed_models=names(row["allowed_models"]),
        allowed_providers=names(row["allowed_providers"]),
        max_cost_usd=row["max_cost_usd"],
    )


def published(row: asyncpg.Record) -> QualityModelPublished:
    """The event that installs a stored version on every router."""
    return QualityModelPublished(
        version=row["version"],
        context_version=row["context_version"],
        model=base64.b64encode(row["model"]).decode("ascii"),
        rows_used=row["rows_used"],
        parent_version=row["parent_version"],
        restored_from=row["restored_from"],
    )


class QualityLearner:
    def __init__(
        self, pool: asyncpg.Pool, settings: Settings, catalog: Catalog, publish: ModelPublisher
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.catalog = catalog
        self.publish = publish

    async def fit(
        self, *, dry_run: bool, trigger: str = "api", full: bool = False
    ) -> dict[str, Any]:
        """Add the ratings since the active version; a new version unless `dry_run`. `full`:
        start from the catalog priors and read every stored rating instead, each once at its
        latest value, so that re-ratings replace what they superseded (docs/learning.md)."""
        async with self.pool.acquire() as conn:
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", MODEL_LOCK_KEY):
                return {"status": "busy", "detail": "another fit or restore is running"}
            try:
                result, event = await self._fit_locked(conn, dry_run, trigger, full)
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", MODEL_LOCK_KEY)
        MODEL_FITS.labels(result["status"]).inc()
        if event is not None:
            QUALITY_MODEL_VERSION.set(event.version)
            await self.publish(event)
        return result

    async def _fit_locked(
        self, conn: asyncpg.Connection, dry_run: bool, trigger: str, full: bool
    ) -> tuple[dict[str, Any], QualityModelPublished | None]:
        parent = await quality_store.active(conn)
        current, since = self._start_from(parent)
        # The diff compares with the model in force; a full refit adds to the priors instead.
        start = QualityModel.prior(self.catalog) if full else current
        since = _BEGINNING if full else since
        until = await quality_store.database_now(conn) - RATING_SETTLE
        clock = time.perf_counter()
        batches = await self._new_batches(conn, since, until)
        rows_used = sum(len(y) for _, y in batches.values())
        read = time.perf_counter()
        proposed = retrain_arrays(start, batches)
        fitted = time.perf_counter()
        diff = await self._diff(conn, current, proposed)
        seconds = {
            "read": round(read - clock, 3),
            "fit": round(fitted - read, 3),
            "diff": round(time.perf_counter() - fitted, 3),
        }
        base: dict[str, Any] = {
            "seconds": seconds,
            "rows_used": rows_used,
            "parent_version": parent["version"] if parent else None,
            "fitted_from": since.isoformat() if since > _BEGINNING else None,
            "fitted_through": until.isoformat(),
            "context_version": CONTEXT_NUMBER,
            "full": full,
            "diff": diff,
        }
        if dry_run:
            return {"status": "dry_run", "written": False, **base}, None
        if not rows_used:
            version = parent["version"] if parent else None
            return {"status": "unchanged", "written": False, "version": version, **base}, None
        async with conn.transaction():
            version = await quality_store.write(
                conn,
                context_version=CONTEXT_NUMBER,
                model=proposed.to_bytes(),
                rows_used=rows_used,
                parent_version=parent["version"] if parent else None,
                fitted_through=until,
                trigger=trigger,
                diff=diff,
            )
            row = await quality_store.version(conn, version)
            await quality_store.prune(conn, self.settings.learner_model_versions_kept)
        assert row is not None
        log.info("quality model version %d: %d new ratings", version, rows_used)
        return {"status": "applied", "written": True, "version": version, **base}, published(row)

    def _start_from(self, parent: asyncpg.Record | None) -> tuple[QualityModel, datetime]:
        """The model a fit adds to and the time its ratings start after."""
        if parent is not None and parent["context_version"] == CONTEXT_NUMBER:
            try:
                model = QualityModel.from_bytes(parent["model"])
            except ModelFormatError as exc:
                log.warning("active quality model unreadable (%s): fitting from priors", exc)
            else:
                return model.covering(self.catalog), parent["fitted_through"]
        return QualityModel.prior(self.catalog), _BEGINNING

    async def _new_batches(
        self, conn: asyncpg.Connection, since: datetime, until: datetime
    ) -> Batches:
        """The new ratings as one (vectors, outcomes) pair of arrays per answering model of the
        catalog (ratings that say nothing, and vectors of another size, left out)."""
        models = [m.id for m in self.catalog.models]
        async with conn.transaction():
            rows = await quality_store.new_ratings(
                conn, CONTEXT_NUMBER, since, until, models, CONTEXT_SIZE
            )
        values = outcome_values(rows.score, rows.correct)
        rated = ~np.isnan(values)
        batches: Batches = {}
        for position, model in enumerate(models, start=1):
            mine = rated & (rows.model == position)
            if mine.any():
                batches[model] = (rows.features[mine].astype(np.float64), values[mine])
        return batches

    async def _diff(
        self, conn: asyncpg.Connection, before: QualityModel, after: QualityModel
    ) -> dict[str, Any]:
        rows = await quality_store.recent_features(
            conn, CONTEXT_NUMBER, DIFF_WINDOW, DIFF_MAX_REQUESTS
        )
        providers = {r["provider"] for r in rows if r["provider"]}
        requests = [_past_request(r) for r in rows if not r["forced"]]
        moves = traffic_moves(
            before,
            after,
            requests,
            self.catalog.available(providers),
            self.settings.quality_target,
            aggregate=self.settings.bandit_target_window > 0,
        )
        forced = len(rows) - len(requests)
        return {**moves, "forced": forced, "window_hours": DIFF_WINDOW.total_seconds() / 3600}

    async def restore(self, version: int) -> dict[str, Any]:
        """Make `version`'s model current again, as a new version with `version`'s watermark:
        the next fit learns exactly the ratings given since `version` was fitted (those of the
        versions after it included), as they stand then."""
        async with self.pool.acquire() as conn:
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", MODEL_LOCK_KEY):
                return {"status": "busy", "detail": "a fit or restore is running"}
            try:
                row = await self._restore_locked(conn, version)
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", MODEL_LOCK_KEY)
        if isinstance(row, str):
            return {"status": "not_found", "detail": f"quality model version {version} {row}"}
        QUALITY_MODEL_VERSION.set(row["version"])
        await self.publish(published(row))
        return {"status": "restored", "version": row["version"], "restored_from": version}

    async def _restore_locked(self, conn: asyncpg.Connection, version: int) -> asyncpg.Record | str:
        """The new version's row, or why `version` cannot be restored."""
        old = await quality_store.version(conn, version)
        if old is None:
            return "was never written"
        if not old["model"]:
            return "was pruned (LEARNER_MODEL_VERSIONS_KEPT)"
        parent = await quality_store.active(conn)
        async with conn.transaction():
            new = await quality_store.write(
                conn,
                context_version=old["context_version"],
                model=old["model"],
                rows_used=0,
                parent_version=parent["version"] if parent else None,
                fitted_through=old["fitted_through"],
                trigger="restore",
                diff={},
                restored_from=version,
            )
            row = await quality_store.version(conn, new)
            await quality_store.prune(conn, self.settings.learner_model_versions_kept)
        assert row is not None
        return row

    async def current(self) -> QualityModelPublished | None:
        row = await quality_store.active(self.pool)
        return published(row) if row is not None else None

    async def versions(self, limit: int = 20) -> list[dict[str, Any]]:
        return [
            {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}
            for row in await quality_store.versions(self.pool, limit)
        ]

    async def status(self) -> dict[str, Any]:
        """The model fields of /admin/learning/status."""
        row = await quality_store.active(self.pool)
        if row is None:
            return {"model_version": None, "model": {"source": "catalog priors"}}
        return {
            "model_version": row["version"],
            "model": {
                "source": "learned",
                "created_at": row["created_at"].isoformat(),
                "context_version": row["context_version"],
                "rows_used": row["rows_used"],
                "parent_version": row["parent_version"],
                "restored_from": row["restored_from"],
                "fitted_through": row["fitted_through"].isoformat(),
                "bytes": len(row["model"]),
            },
        }
