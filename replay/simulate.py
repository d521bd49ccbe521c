"""The online replay loop: classify, decide, observe the routed model's outcome, retrain.

The loop holds only what production holds: feedback counts per (key, model) for routed
requests, and the current overrides. A prompt's recorded outcomes are read after its decision,
and only the routed model's, exactly as a user's feedback would arrive.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from replay.records import REPLAY_PROVIDER, ReplayDataset, ReplayRecord
from schemas.messages import Override
from shared.routing.catalog import Catalog
from shared.routing.classifier import Classification, classify
from shared.routing.learning import ModelStats, is_good, route_key
from shared.routing.policy import RoutingPolicy
from shared.routing.retrain import RetrainRule, retrain


@dataclass(frozen=True, slots=True)
class ReplayConfig:
    """Knobs of one replay. Defaults mirror production settings where there is one."""

    seed: int = 0
    retrain_every: int = 50
    exploration: float = 0.2
    holdout: float = 0.3
    passes: int = 1
    limit: int | None = None
    min_samples: int = 20
    threshold: float = 0.7
    value_per_good_usd: float | None = 0.05
    granularity: Literal["pattern", "complexity"] = "pattern"
    trials: bool = True
    max_trials: int | None = 3
    z: float = 1.96
    quality_floor: float = 0.8
    max_tokens: int = 512


@dataclass(frozen=True, slots=True)
class Step:
    """One routed prompt and what came of it."""

    record: ReplayRecord
    classification: Classification
    model: str
    quality: float
    cost_usd: float
    explored: bool


@dataclass(slots=True)
class _Tally:
    samples: int = 0
    good: int = 0
    score_sum: float = 0.0
    correct_known: int = 0
    correct: int = 0


@dataclass(slots=True)
class Learner:
    """Feedback counts and the overrides learned from them, as the learner service keeps them."""

    catalog: Catalog
    config: ReplayConfig
    tallies: dict[tuple[str, str], _Tally] = field(default_factory=dict)
    overrides: dict[str, Override] = field(default_factory=dict)
    trials: dict[str, list[str]] = field(default_factory=dict)
    version: int = 0

    def key(self, classification: Classification) -> str:
        if self.config.granularity == "complexity":
            return route_key(classification.pattern, classification.complexity)
        return classification.pattern

    def record(self, key: str, model: str, score: int, correct: bool | None) -> None:
        tally = self.tallies.setdefault((key, model), _Tally())
        tally.samples += 1
        tally.good += int(is_good(score, correct))
        tally.score_sum += score
        if correct is not None:
            tally.correct_known += 1
            tally.correct += int(correct)

    def stats(self) -> list[ModelStats]:
        return [
            ModelStats(
                pattern=key,
                model=model,
                samples=t.samples,
                good=t.good,
                avg_quality=t.score_sum / t.samples,
                correct_rate=t.correct / t.correct_known if t.correct_known else None,
            )
            for (key, model), t in sorted(self.tallies.items())
        ]

    def retrain(self) -> None:
        """The learner service's retrain step; a change is applied as a new version, as there."""
        cfg = self.config
        rule = RetrainRule(
            cfg.min_samples, cfg.threshold, cfg.value_per_good_usd, cfg.z, cfg.trials,
            cfg.max_trials,
        )  # fmt: skip
        proposed = retrain(self.stats(), self.catalog, rule)
        if proposed.changes(list(self.overrides.values()), self.trials):
            self.version += 1
            self.overrides = {o.pattern: o for o in proposed.overrides}
            self.trials = proposed.trials


def split(
    dataset: ReplayDataset, config: ReplayConfig
) -> tuple[list[ReplayRecord], list[ReplayRecord]]:
    """(stream, holdout): a seeded shuffle; the holdout is never streamed, only evaluated."""
    records = list(dataset.records)
    random.Random(config.seed).shuffle(records)
    if config.limit:
        records = records[: config.limit]
    cut = round(len(records) * config.holdout)
    holdout, train = records[:cut], records[cut:]
    stream = list(train)
    reshuffle = random.Random(config.seed + 1)
    for _ in range(1, config.passes):
        again = list(train)
        reshuffle.shuffle(again)
        stream.extend(again)
    return stream, holdout


class Replayer:
    """Runs the stream through one policy and learner; evaluates the result on the holdout."""

    def __init__(self, dataset: ReplayDataset, catalog: Catalog, config: ReplayConfig) -> None:
        self.dataset, self.catalog, self.config = dataset, catalog, config
        self.policy = RoutingPolicy(
            catalog, frozenset({REPLAY_PROVIDER}), config.quality_floor, config.exploration
        )
        self.learner = Learner(catalog, config)
        self._classified: dict[str, Classification] = {}
        self.versions: list[tuple[int, int]] = []  # (step, version) when a version appeared

    def classification(self, record: ReplayRecord) -> Classification:
        # Pure function of the prompt: cached so that extra passes do not pay for it again.
        found = self._classified.get(record.uid)
        if found is None:
            found = self._classified[record.uid] = classify(record.messages)
        return found

    def run(
        self,
        stream: Sequence[ReplayRecord],
        progress: Callable[[Iterable[ReplayRecord]], Iterable[ReplayRecord]] | None = None,
    ) -> list[Step]:
        """Route every record of the stream, feeding back outcomes and retraining every K."""
        rng = random.Random(self.config.seed)
        steps = []
        learner = self.learner
        for index, record in enumerate(progress(stream) if progress else stream, start=1):
            step = self._route(record, self.policy, rng, learner.overrides, learner.trials)
            steps.append(step)
            score, correct = self.dataset.feedback(step.quality)
            learner.record(learner.key(step.classification), step.model, score, correct)
            if index % self.config.retrain_every == 0:
                before = learner.version
                learner.retrain()
                if learner.version != before:
                    self.versions.append((index, learner.version))
        learner.retrain()
        return steps

    def evaluate(self, holdout: Sequence[ReplayRecord]) -> list[Step]:
        """Route the holdout with the final overrides and no exploration: the learned policy."""
        frozen = dataclasses.replace(self.policy, exploration_rate=0.0)
        rng = random.Random(self.config.seed)
        return [self._route(r, frozen, rng, self.learner.overrides, None) for r in holdout]

    def _route(
        self,
        record: ReplayRecord,
        policy: RoutingPolicy,
        rng: random.Random,
        overrides: dict[str, Override],
        trials: dict[str, list[str]] | None,
    ) -> Step:
        classification = self.classification(record)
        decision = policy.decide(
            classification, record.prompt_tokens, self.config.max_tokens, rng,
            overrides=overrides, overrides_version=self.learner.version, trials=trials,
        )  # fmt: skip
        model = decision.model.id
        return Step(
            record, classification, model, record.quality[model], record.cost_usd[model],
            decision.explored,
        )  # fmt: skip
