"""The retrain steps: aggregated feedback in, the next override set and its trials out; and
rated outcomes in, the next quality model of the bandit out (`retrain_quality_model`).

The learner service calls it over its SQL aggregate, the replay evaluator over simulated
feedback: one function, so that what the replay measures is what production runs. Pure; the
caller stores, versions and publishes the result.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from schemas.messages import Override
from shared.routing.bandit.outcomes import Outcome
from shared.routing.bandit.quality_model import QualityModel
from shared.routing.catalog import Catalog
from shared.routing.learning import (
    ModelStats,
    OverrideDiff,
    diff_overrides,
    select_overrides,
    select_trials,
)


@dataclass(frozen=True, slots=True)
class RetrainRule:
    """The knobs of a retrain (settings in production, flags in the replay).

    `value_per_good_usd` None is the floor rule, a number the value rule (docs/learning.md).
    """

    min_samples: int
    confidence_threshold: float
    value_per_good_usd: float | None = None
    z: float = 1.96
    trials: bool = True
    max_trials: int | None = 3


@dataclass(frozen=True, slots=True)
class Retrained:
    """The proposed overrides and trials, and the evidence they were chosen from."""

    overrides: list[Override]
    trials: dict[str, list[str]]
    evidence: list[ModelStats]

    def diff(self, current: Sequence[Override]) -> OverrideDiff:
        return diff_overrides(current, self.overrides)

    def changes(
        self, current: Sequence[Override], current_trials: Mapping[str, Sequence[str]]
    ) -> bool:
        """Whether this is a new version: an override moved, or the trials differ (routers
        must hear about new trials too). Fresher counts for the same decisions are not."""
        trials = {key: list(models) for key, models in current_trials.items()}
        return not self.diff(current).empty or self.trials != trials


def retrain(evidence: Iterable[ModelStats], catalog: Catalog, rule: RetrainRule) -> Retrained:
    """Choose one override per key and the cheaper models still worth trying.

    Evidence on models the catalog no longer lists is dropped. Models are ranked by price as
    `learning.expected_cost` does: the observed mean cost per request when the evidence carries
    it, else the catalog's blended list price. Neither caller fills the observed cost today, so
    both rank by list price (the replay catalog's list price is each model's mean recorded cost).
    """
    stats = [row for row in evidence if catalog.has(row.model)]
    overrides = select_overrides(
        stats, catalog, rule.min_samples, rule.confidence_threshold,
        value_per_good_usd=rule.value_per_good_usd, z=rule.z,
    )  # fmt: skip
    trials: dict[str, list[str]] = {}
    if rule.trials:
        chosen = select_trials(
            stats, catalog, overrides, rule.min_samples, rule.confidence_threshold,
            value_per_good_usd=rule.value_per_good_usd, max_trials=rule.max_trials, z=rule.z,
        )  # fmt: skip
        trials = {key: list(models) for key, models in chosen.items()}
    return Retrained(overrides, trials, stats)


def retrain_quality_model(model: QualityModel, new_outcomes: Iterable[Outcome]) -> QualityModel:
    """The bandit's retrain step: the current posterior updated with the ratings since it was
    fitted (incremental: each rating given is learned by one fit; a re-rating is a new
    outcome). Returns a new model, version unchanged: the caller sets the version it publishes
    (`QualityModel.with_version`)."""
    return model.updated(new_outcomes)
