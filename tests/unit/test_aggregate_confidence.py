"""The aggregate rule with confidence (`BanditParams.aggregate_z`): a poorly known best model is
valued at its upper bound and the cheaper ones at their lower bounds, so traffic stays on the
best where leaving it rests on guesses; 0 keeps the rule on the means."""

from __future__ import annotations

import random

import numpy as np

from shared.routing.bandit.chooser import choose, confident_values
from shared.routing.bandit.context import CONTEXT_SIZE, PATTERN_SLICE
from shared.routing.bandit.cost_weight import CostWeights
from shared.routing.bandit.params import BanditParams
from shared.routing.bandit.quality_model import QualityModel, sigmoid
from shared.routing.catalog import Catalog
from tests.unit.bandit_support import simulated_model

CATALOG = Catalog(
    default_premium_model="premium",
    models=[simulated_model("cheap", 1.0, 0.85), simulated_model("premium", 100.0, 0.9)],
)
COSTS = {"cheap": 0.001, "premium": 0.1}


class FixedWeight(CostWeights):
    """A calibrated window stand-in: the same weight for every target."""

    def __init__(self, weight: float) -> None:
        super().__init__(window=10, every=1)
        self.fixed = weight

    def weight(self, target: float) -> float | None:
        return self.fixed


def x() -> np.ndarray:
    v = np.zeros(CONTEXT_SIZE, dtype=np.float32)
    v[0] = 1.0
    v[PATTERN_SLICE.start] = 1.0
    return v


def chosen(model: QualityModel, z: float, weights: CostWeights) -> str:
    params = BanditParams(weight_window=10, aggregate_z=z)
    return choose(
        [CATALOG.get("cheap"), CATALOG.get("premium")], model, x(), 0.95, random.Random(0), None,
        costs=COSTS, params=params, weights=weights,
    ).model_id  # fmt: skip


def test_confident_values_bound_the_best_above_and_the_others_below() -> None:
    values = confident_values(np.array([0.0, 1.0, 2.0]), 2, 3.0)
    expected = sigmoid(np.array([0.0, 1.0, 3.0]))  # the best (index 2) at its bound, 3.0
    np.testing.assert_allclose(values, expected)


def test_a_poorly_known_best_keeps_the_traffic_under_confidence() -> None:
    model = QualityModel.prior(CATALOG)  # nothing rated: every model's own sd is the prior's
    # At weight 0.1 the means favour the cheap model (0.85 - 0.001 against 0.9 - 0.1).
    assert chosen(model, 0.0, FixedWeight(0.1)) == "cheap"
    assert chosen(model, 0.5, FixedWeight(0.1)) == "premium"


def test_the_window_records_the_values_the_rule_trades_on() -> None:
    model = QualityModel.prior(CATALOG)
    plain, confident = FixedWeight(0.1), FixedWeight(0.1)
    for weights, z in ((plain, 0.0), (confident, 0.5)):
        params = BanditParams(weight_window=10, aggregate_z=z)
        choose(
            [CATALOG.get("cheap"), CATALOG.get("premium")], model, x(), 0.95, random.Random(0),
            None, costs=COSTS, params=params, weights=weights, record=True,
        )  # fmt: skip
    # cheapest first: the cheap model lower, the premium higher under confidence
    assert confident._qualities[0, 0] < plain._qualities[0, 0]
    assert confident._qualities[0, 1] > plain._qualities[0, 1]
