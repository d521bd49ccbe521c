"""What the learner does with each command: one plain function per message type, and the
table that dispatches to them. `services/handlers.py` validates and answers around them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas.messages import (
    FitQualityModel,
    ListLearningRuns,
    ListQualityModels,
    ReportLearningStatus,
    RestoreOverrides,
    RestoreQualityModel,
    RetrainOverrides,
    SendCurrentOverrides,
    SendCurrentQualityModel,
)
from services.handlers import Table
from services.learner.core import Learner
from services.learner.quality import QualityLearner


@dataclass(frozen=True, slots=True)
class Deps:
    learner: Learner
    quality: QualityLearner
    next_run: Callable[[], datetime | None]  # the scheduler's next retrain, if any


async def _retrain(command: RetrainOverrides, deps: Deps) -> dict[str, Any]:
    return await deps.learner.retrain(
        dry_run=command.dry_run,
        min_samples=command.min_samples,
        confidence_threshold=command.confidence_threshold,
        trigger="api",
    )


async def _status(_: ReportLearningStatus, deps: Deps) -> dict[str, Any]:
    # The overrides' fields keep their meaning; the quality model's are added beside them.
    return {**await deps.learner.status(deps.next_run()), **await deps.quality.status()}


async def _current(_: SendCurrentOverrides, deps: Deps) -> dict[str, Any]:
    return (await deps.learner.current()).model_dump(mode="json")


async def _restore(command: RestoreOverrides, deps: Deps) -> dict[str, Any]:
    return await deps.learner.restore(command.version)


async def _runs(_: ListLearningRuns, deps: Deps) -> dict[str, Any]:
    return {"runs": await deps.learner.runs()}


async def _fit_model(command: FitQualityModel, deps: Deps) -> dict[str, Any]:
    return await deps.quality.fit(dry_run=command.dry_run, trigger="api", full=command.full)


async def _restore_model(command: RestoreQualityModel, deps: Deps) -> dict[str, Any]:
    return await deps.quality.restore(command.version)


async def _current_model(_: SendCurrentQualityModel, deps: Deps) -> dict[str, Any]:
    current = await deps.quality.current()
    return current.model_dump(mode="json") if current is not None else {}


async def _models(command: ListQualityModels, deps: Deps) -> dict[str, Any]:
    return {"versions": await deps.quality.versions(command.limit)}


COMMANDS: Table[Deps] = {
    RetrainOverrides: _retrain,
    ReportLearningStatus: _status,
    SendCurrentOverrides: _current,
    RestoreOverrides: _restore,
    ListLearningRuns: _runs,
    FitQualityModel: _fit_model,
    RestoreQualityModel: _restore_model,
    SendCurrentQualityModel: _current_model,
    ListQualityModels: _models,
}
