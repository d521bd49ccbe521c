"""The learner's side of the contract: the commands it answers (RPC on learner.commands, one
message type per intent) and what it publishes to every router, the override set and the
learned quality model.

Together because each publication is what some of these commands produce or send back
(`current_overrides`, `restore`, `fit_model`, `current_model`, `restore_model`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from schemas.messages.base import INT32_MAX, STRICT, Intent, Message, utcnow

# ---- learner commands (RPC on learner.commands): one message type per intent -------------


class RetrainOverrides(Intent):
    """Command: recompute overrides from feedback; `dry_run` only reports the diff."""

    action: Literal["retrain"] = "retrain"
    dry_run: bool = True
    min_samples: int | None = Field(default=None, ge=1)
    confidence_threshold: float | None = Field(default=None, gt=0, lt=1)


class ReportLearningStatus(Intent):
    """Command: overrides in force, their confidence, last and next retrain, coverage."""

    action: Literal["status"] = "status"


class SendCurrentOverrides(Intent):
    """Command: the current override set, as an OverridesPublished in `data`."""

    action: Literal["current_overrides"] = "current_overrides"


class RestoreOverrides(Intent):
    """Command: make `version`'s overrides current again, as a new version."""

    action: Literal["restore"] = "restore"
    version: int = Field(ge=1, le=INT32_MAX)


class ListLearningRuns(Intent):
    """Command: recent learning runs with their parameters and diffs."""

    action: Literal["runs"] = "runs"


class FitQualityModel(Intent):
    """Command: add the ratings that came since the active quality model was fitted, as a new
    version. `dry_run` reports the rows it would use and how recent traffic would move between
    models, and writes nothing. `full` refits from the catalog priors on every stored rating at
    its latest value (a re-rating replaces what it superseded) instead."""

    action: Literal["fit_model"] = "fit_model"
    dry_run: bool = True
    full: bool = False


class RestoreQualityModel(Intent):
    """Command: make quality model `version` current again, as a new version."""

    action: Literal["restore_model"] = "restore_model"
    version: int = Field(ge=1, le=INT32_MAX)


class SendCurrentQualityModel(Intent):
    """Command: the active quality model, as a QualityModelPublished in `data` (an empty
    `data` when none was learned: routers then use the catalog priors)."""

    action: Literal["current_model"] = "current_model"


class ListQualityModels(Intent):
    """Command: the quality model versions, newest first (no model bytes)."""

    action: Literal["models"] = "models"
    limit: int = Field(default=20, ge=1, le=1000)


LearnerCommand = Annotated[
    RetrainOverrides
    | ReportLearningStatus
    | SendCurrentOverrides
    | RestoreOverrides
    | ListLearningRuns
    | FitQualityModel
    | RestoreQualityModel
    | SendCurrentQualityModel
    | ListQualityModels,
    Field(discriminator="action"),
]


# ---- published on the overrides fanout: every router installs them, replacing what it had -


class Override(BaseModel):
    """A learned rule: prompts of `pattern` go to `model`."""

    model_config = STRICT
    pattern: str
    model: str
    provider: str
    confidence_level: Literal["high", "medium", "low"]
    confidence_bound: float
    sample_count: int
    avg_quality: float | None = None
    correct_rate: float | None = None


class OverridesPublished(Message):
    """Event on the fanout exchange: the full current set of overrides, replacing any before."""

    version: int
    overrides: list[Override]
    # Per routing key, cheaper models exploration should still try (and only those).
    trials: dict[str, list[str]] = Field(default_factory=dict)
    published_at: datetime = Field(default_factory=utcnow, strict=False)


MAX_MODEL_BYTES = 16 * 1024 * 1024  # a learned quality model is up to a few MB


class QualityModelPublished(Message):
    """Event on the overrides fanout (AMQP type `QualityModelPublished`): the learned quality
    model every router scores candidates with, replacing the one before. Versions only grow (a
    restore republishes an old model under a new version), so a router installs a version
    above its own and ignores the rest."""

    version: int = Field(ge=1, le=INT32_MAX)
    context_version: int = Field(ge=0, le=32767, description="features it expects")
    model: str = Field(
        max_length=4 * MAX_MODEL_BYTES // 3 + 4,
        description="the model's bytes (QualityModel.to_bytes), base64",
        json_schema_extra={"contentEncoding": "base64"},
    )
    rows_used: int = Field(default=0, ge=0, description="ratings this version added")
    parent_version: int | None = Field(default=None, ge=1)
    restored_from: int | None = Field(default=None, ge=1)
    published_at: datetime = Field(default_factory=utcnow, strict=False)
