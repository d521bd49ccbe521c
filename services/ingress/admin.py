"""Operator endpoints: feedback summary, learning status, retrain, restore, run history."""

from __future__ import annotations

from typing import Any

from fastapi import Query, Request
from pydantic import BaseModel

from schemas.messages import (
    FitQualityModel,
    ListLearningRuns,
    ListQualityModels,
    ReloadCatalog,
    ReportLearningStatus,
    RestoreOverrides,
    RestoreQualityModel,
    RetrainOverrides,
    SummarizeFeedback,
)
from services.catalog_reload import reload_catalog
from services.ingress.bus_calls import ingress, rpc_json
from services.ingress.errors import ApiError
from services.ingress.strict_json import strict_router
from shared.messaging.topology import CATALOG_RELOAD_KEY, FEEDBACK_QUERIES, LEARNER_COMMANDS

router = strict_router(prefix="/admin", tags=["admin"])


async def _learner(request: Request, command: BaseModel) -> dict[str, Any]:
    payload = await rpc_json(ingress(request), LEARNER_COMMANDS, command)
    data: dict[str, Any] = payload.get("data", {})
    return data


@router.post("/catalog/reload", responses={422: {"description": "the catalog does not validate"}})
async def reload_catalog_everywhere(request: Request) -> dict[str, Any]:
    """Re-read the catalog and CATALOG_OVERLAY_PATH here, then tell every router and ingress
    to do the same. A file that does not validate changes nothing anywhere (422 says why)."""
    state = ingress(request)
    loaded = reload_catalog(state.settings, state.use_catalog)
    if isinstance(loaded, str):
        raise ApiError(422, "invalid_catalog", loaded)
    try:
        await state.broker.publish(
            ReloadCatalog(models=len(loaded.models)),
            exchange=state.topology.events(),
            routing_key=CATALOG_RELOAD_KEY,
        )
    except Exception as exc:  # the broker is away: only this ingress has the new catalog
        raise ApiError(
            503, "broker_unavailable", "reloaded here only; the routers were not told"
        ) from exc
    return {
        "models": len(loaded.models),
        "overlay_path": state.settings.catalog_overlay_path,
        "sent_to": "every router and ingress (optimizer.events, catalog.reload)",
    }


@router.get("/feedback/summary")
async def feedback_summary(
    request: Request, days: int = Query(default=30, ge=1, le=365)
) -> dict[str, Any]:
    """`total_feedback`, `avg_quality_score`, `by_model`, `by_query_pattern` (count, average)."""
    payload = await rpc_json(ingress(request), FEEDBACK_QUERIES, SummarizeFeedback(days=days))
    data: dict[str, Any] = payload.get("data", {})
    return data


@router.get("/learning/status")
async def learning_status(request: Request) -> dict[str, Any]:
    """Overrides in force, their confidence, the last and next retrain, coverage of traffic."""
    return await _learner(request, ReportLearningStatus())


@router.post("/learning/retrain")
async def retrain(
    request: Request,
    dry_run: bool = Query(default=True),
    min_samples: int | None = Query(default=None, ge=1),
    confidence_threshold: float | None = Query(default=None, gt=0, lt=1),
) -> dict[str, Any]:
    """Recompute overrides from feedback. `dry_run=true` returns the diff and writes nothing."""
    command = RetrainOverrides(
        dry_run=dry_run,
        min_samples=min_samples,
        confidence_threshold=confidence_threshold,
    )
    return await _learner(request, command)


@router.post("/learning/restore")
async def restore(
    request: Request,
    version: int = Query(ge=1, le=2_147_483_647),  # an integer column
) -> dict[str, Any]:
    """Make an earlier version of the overrides current again (as a new version)."""
    result = await _learner(request, RestoreOverrides(version=version))
    if result.get("status") == "not_found":
        raise ApiError(404, "unknown_version", str(result.get("detail")))
    return result


@router.post("/learning/model/fit")
async def fit_model(
    request: Request, dry_run: bool = Query(default=True), full: bool = Query(default=False)
) -> dict[str, Any]:
    """Add the ratings since the active quality model as a new version; `dry_run=true` says
    how many it would add and how recent traffic would move between models, writing nothing.
    `full=true` refits from the priors on every stored rating at its latest value."""
    return await _learner(request, FitQualityModel(dry_run=dry_run, full=full))


@router.post("/learning/model/restore")
async def restore_model(
    request: Request, version: int = Query(ge=1, le=2_147_483_647)
) -> dict[str, Any]:
    """Make an earlier quality model version current again (as a new version): every router
    switches to it."""
    result = await _learner(request, RestoreQualityModel(version=version))
    if result.get("status") == "not_found":
        raise ApiError(404, "unknown_version", str(result.get("detail")))
    return result


@router.get("/learning/model/versions")
async def model_versions(
    request: Request, limit: int = Query(default=20, ge=1, le=1000)
) -> dict[str, Any]:
    """The quality model's versions, newest first (rows used, parent, restored from)."""
    return await _learner(request, ListQualityModels(limit=limit))


@router.get("/learning/runs")
async def runs(request: Request) -> dict[str, Any]:
    """Recent learning runs with their parameters and diffs."""
    return await _learner(request, ListLearningRuns())
