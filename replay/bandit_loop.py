"""The bandit's online replay loop: context, choose, observe the routed model's outcome, retrain.

Production's parts, in production's order: `context_vector` of the prompt's classification,
`chooser.choose` over the replay catalog with this request's estimated costs, the rating mapped by
`outcomes.outcome_value`, and every K requests the learner's own step,
`retrain.retrain_quality_model`, over the outcomes rated since the last one. Only the routed
model's outcome is read, after the decision, and only for a seeded `feedback_rate` share of the
requests (users rate some answers, not all).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from replay.records import ReplayDataset, ReplayRecord
from replay.simulate import Step
from shared.routing.bandit.chooser import ExplorationBudget, choose
from shared.routing.bandit.context import context_vector
from shared.routing.bandit.outcomes import Outcome, outcome_value
from shared.routing.bandit.params import BanditParams
from shared.routing.bandit.quality_model import QualityModel
from shared.routing.catalog import Catalog
from shared.routing.classifier import Classification, classify
from shared.routing.retrain import retrain_quality_model

Progress = Callable[[Iterable[ReplayRecord]], Iterable[ReplayRecord]]


@dataclass(frozen=True, slots=True)
class BanditReplayConfig:
    """Knobs of one bandit replay; the hyperparameters are `BanditParams` (settings defaults)."""

    seed: int = 0
    holdout: float = 0.3
    feedback_rate: float = 1.0
    retrain_every: int = 50
    max_tokens: int = 512
    limit: int | None = None
    params: BanditParams = field(default_factory=BanditParams)


class Contexts:
    """Each record's classification and context vector, computed once (pure functions of the
    prompt, shared by every seed and setting of a run)."""

    def __init__(self) -> None:
        self._found: dict[str, tuple[Classification, npt.NDArray[np.float32]]] = {}

    def get(self, record: ReplayRecord) -> tuple[Classification, npt.NDArray[np.float32]]:
        found = self._found.get(record.uid)
        if found is None:
            classification = classify(record.messages)
            found = self._found[record.uid] = (
                classification,
                context_vector(classification, [m.content for m in record.messages]),
            )
        return found


class BanditReplayer:
    """One stream through the bandit; `evaluate` routes prompts with the final model, greedily."""

    def __init__(
        self,
        dataset: ReplayDataset,
        catalog: Catalog,
        config: BanditReplayConfig,
        contexts: Contexts | None = None,
    ) -> None:
        self.dataset, self.catalog, self.config = dataset, catalog, config
        self.contexts = contexts or Contexts()
        self.model = QualityModel.prior(catalog, config.params)
        self.budget = ExplorationBudget(
            share=config.params.exploration_share, endowment=config.params.exploration_endowment
        )
        self.weights = config.params.cost_weights()
        self.candidates = [catalog.get(m) for m in dataset.models]
        self.baseline = catalog.get(dataset.reference_model)
        self.retrains = 0

    def _costs(self, record: ReplayRecord) -> tuple[dict[str, float], float]:
        tokens, out = record.prompt_tokens, self.config.max_tokens
        costs = {c.id: c.cost(tokens, out) for c in self.candidates}
        return costs, self.baseline.cost(tokens, out)

    def run(self, stream: Sequence[ReplayRecord], progress: Progress | None = None) -> list[Step]:
        """Route every record, learn from the rated ones, retrain every `retrain_every`."""
        cfg = self.config
        choices = random.Random(cfg.seed)
        raters = random.Random(cfg.seed + 7)
        pending: list[Outcome] = []
        steps = []
        for index, record in enumerate(progress(stream) if progress else stream, start=1):
            classification, x = self.contexts.get(record)
            costs, baseline = self._costs(record)
            choice = choose(
                self.candidates, self.model, x, cfg.params.quality_target, choices, self.budget,
                costs=costs, baseline_cost=baseline, params=cfg.params, weights=self.weights,
                record=True,
            )  # fmt: skip
            model = choice.model_id
            quality, cost = record.quality[model], record.cost_usd[model]
            steps.append(Step(record, classification, model, quality, cost, choice.explored))
            if raters.random() < cfg.feedback_rate:
                y = outcome_value(*self.dataset.feedback(quality))
                if y is not None:
                    pending.append(Outcome(model, x, y))
            if index % cfg.retrain_every == 0 and pending:
                self.model = retrain_quality_model(self.model, pending)
                self.retrains += 1
                pending = []
        if pending:
            self.model = retrain_quality_model(self.model, pending)
            self.retrains += 1
        return steps

    def evaluate(
        self, records: Sequence[ReplayRecord], quality_target: float | None = None
    ) -> list[Step]:
        """Route `records` with the final model and no exploration (the learned policy)."""
        target = self.config.params.quality_target if quality_target is None else quality_target
        rng = random.Random(self.config.seed)
        steps = []
        for record in records:
            classification, x = self.contexts.get(record)
            costs, baseline = self._costs(record)
            choice = choose(
                self.candidates, self.model, x, target, rng, None, costs=costs,
                baseline_cost=baseline, params=self.config.params, weights=self.weights,
            )  # fmt: skip
            model = choice.model_id
            steps.append(
                Step(
                    record,
                    classification,
                    model,
                    record.quality[model],
                    record.cost_usd[model],
                    False,
                )
            )
        return steps
