"""The bandit learns from ratings alone: a synthetic world where the right model depends on a
feature the router sees, then a model that turns bad.

World: contexts carry one visible feature, spread over the first 8 embedding coordinates (all
+1 or all -1, as a topic moves several principal directions of a real embedding), and noise in
the other coordinates. The cheap model answers well (95%) when the feature is positive
and badly (10%) when negative; the premium model, 100 times dearer, answers well 90% of the time.
The catalog's priors know none of this (cheap 0.7, premium 0.9 everywhere).
"""

import random

import numpy as np
import pytest

from shared.routing.bandit.chooser import ExplorationBudget, choose
from shared.routing.bandit.context import CONTEXT_SIZE, EMBEDDING_SLICE, PATTERN_SLICE
from shared.routing.bandit.outcomes import Outcome
from shared.routing.bandit.params import BanditParams
from shared.routing.bandit.quality_model import QualityModel
from shared.routing.catalog import Catalog, ModelSpec
from shared.routing.retrain import retrain_quality_model
from tests.unit.bandit_support import simulated_model

COSTS = {"cheap": 0.001, "premium": 0.1}
RETRAIN_EVERY = 20
# Ratings (one per request) within which the bandit must have found the rule: stated, not tuned
# per run; the test fails if learning is slower.
FINDS_WITHIN = 800
ABANDONS_WITHIN = 400


def spec(model_id: str, quality: float) -> ModelSpec:
    return simulated_model(model_id, COSTS[model_id] * 1000, quality)


CATALOG = Catalog(
    default_premium_model="premium", models=[spec("cheap", 0.7), spec("premium", 0.9)]
)


def context(rng: np.random.Generator, positive: bool) -> np.ndarray:
    x = np.zeros(CONTEXT_SIZE, dtype=np.float32)
    x[0] = 1.0
    x[EMBEDDING_SLICE] = rng.normal(0.0, 0.5, EMBEDDING_SLICE.stop - EMBEDDING_SLICE.start)
    start = EMBEDDING_SLICE.start
    x[start : start + 8] = 1.0 if positive else -1.0
    x[PATTERN_SLICE.start] = 1.0
    return x


class World:
    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.cheap_broken = False

    def good_chance(self, model: str, positive: bool) -> float:
        if model == "premium":
            return 0.9
        if self.cheap_broken:
            return 0.0
        return 0.95 if positive else 0.1


class Bandit:
    """The production loop in miniature: choose, rate, retrain every RETRAIN_EVERY ratings."""

    def __init__(self, seed: int) -> None:
        self.model = QualityModel.prior(CATALOG)
        self.rng = random.Random(seed)
        self.budget = ExplorationBudget()
        self.pending: list[Outcome] = []

    def step(self, world: World, positive: bool) -> tuple[str, bool]:
        x = context(world.rng, positive)
        choice = choose(
            CATALOG.models, self.model, x, BanditParams().quality_target, self.rng, self.budget,
            costs=COSTS, baseline_cost=COSTS["premium"],
        )  # fmt: skip
        good = world.rng.random() < world.good_chance(choice.model_id, positive)
        self.pending.append(Outcome(choice.model_id, x, 1.0 if good else 0.0))
        if len(self.pending) == RETRAIN_EVERY:
            self.model = retrain_quality_model(self.model, self.pending)
            self.pending = []
        return choice.model_id, choice.explored

    def greedy(self, world: World, positive: bool) -> str:
        x = context(world.rng, positive)
        return choose(CATALOG.models, self.model, x, 0.95, self.rng, None, costs=COSTS).model_id


@pytest.mark.parametrize("seed", [0, 2])
def test_finds_the_feature_and_explores_less(seed: int) -> None:
    world, bandit = World(seed), Bandit(seed)
    # Cold start: the catalog priors, premium everywhere.
    assert bandit.greedy(world, True) == "premium" and bandit.greedy(world, False) == "premium"
    explored = [bandit.step(world, i % 2 == 0)[1] for i in range(FINDS_WITHIN)]
    assert all(bandit.greedy(world, True) == "cheap" for _ in range(20))
    assert all(bandit.greedy(world, False) == "premium" for _ in range(20))
    first, last = np.mean(explored[:150]), np.mean(explored[-150:])
    assert first > 0.05
    assert last < first / 2


@pytest.mark.parametrize("seed", [1])
def test_a_model_that_turns_bad_is_abandoned(seed: int) -> None:
    world, bandit = World(seed), Bandit(seed)
    for i in range(FINDS_WITHIN):
        bandit.step(world, i % 2 == 0)
    assert bandit.greedy(world, True) == "cheap"
    world.cheap_broken = True
    routed = [bandit.step(world, True)[0] for _ in range(ABANDONS_WITHIN)]
    assert all(bandit.greedy(world, True) == "premium" for _ in range(20))
    # Abandoned, not merely outvoted at the end: the last quarter goes to premium.
    assert routed[-100:].count("premium") >= 90
