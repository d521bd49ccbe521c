"""The aggregate rule's calibration: the solved cost weight keeps the quality target over the
traffic as a whole, each target gets its own weight on the same window, previews do not count."""

from __future__ import annotations

import random

import numpy as np
import pytest

from shared.routing.bandit.chooser import choose
from shared.routing.bandit.context import context_vector
from shared.routing.bandit.cost_weight import (
    MAX_WEIGHT,
    CostWeights,
    best_value,
    kept_quality,
    solve_weight,
)
from shared.routing.bandit.quality_model import QualityModel
from shared.routing.catalog import Catalog
from shared.routing.model_diff import PastRequest, traffic_moves
from tests.unit.test_bandit import catalog, one_hot  # noqa: F401 (a fixture)

SHARES = [0.02, 0.2, 1.0]  # cheap, middle, premium: cost as a share of the premium's


def synthetic_request(rng: random.Random) -> list[float]:
    """Predicted qualities, cheapest first: the premium best, the others a random step below."""
    premium = rng.uniform(0.75, 0.95)
    return [premium - rng.uniform(0.0, 0.5), premium - rng.uniform(0.0, 0.25), premium]


def per_prompt(qualities: list[float], target: float) -> int:
    return next(i for i, q in enumerate(qualities) if q >= target * max(qualities))


@pytest.mark.parametrize("target", [0.85, 0.9, 0.95])
def test_the_calibrated_weight_keeps_the_target_over_a_synthetic_stream(target: float) -> None:
    rng = random.Random(int(target * 100))
    weights = CostWeights(window=500, every=50)
    kept = best = cost = 0.0
    kept_pp = cost_pp = 0.0
    for n in range(4000):
        qualities = synthetic_request(rng)
        weight = weights.weight(target)
        assert (weight is None) == (n < 50)  # the per-prompt rule until the first solve
        if weight is not None:
            chosen = best_value(qualities, [weight * s for s in SHARES], [0, 1, 2])
            if n >= 500:  # scored once the window is full
                kept, best = kept + qualities[chosen], best + max(qualities)
                cost += SHARES[chosen]
                other = per_prompt(qualities, target)
                kept_pp, cost_pp = kept_pp + qualities[other], cost_pp + SHARES[other]
        weights.record(qualities, SHARES)
    assert kept / best == pytest.approx(target, abs=0.01)
    # The per-prompt rule at the same target over-delivers, and pays for it.
    assert kept_pp / best > target + 0.01
    assert cost < cost_pp


def test_the_solved_weight_is_the_largest_that_meets_the_target() -> None:
    rng = np.random.default_rng(3)
    qualities = rng.uniform(0.3, 0.95, size=(400, 4))
    costs = np.sort(rng.uniform(0.0, 1.0, size=(400, 4)), axis=1)
    goal = 0.9 * qualities.max(axis=1).sum()
    weight = solve_weight(qualities, costs, 0.9)
    assert kept_quality(qualities, costs, weight) >= goal
    assert kept_quality(qualities, costs, weight * 1.01) < goal
    assert solve_weight(qualities, costs, 0.9, hint=weight * 30) == pytest.approx(weight, rel=2e-3)
    assert solve_weight(qualities, costs, 1.0) == 0.0  # the best everywhere
    assert solve_weight(qualities, costs, 0.0) == MAX_WEIGHT  # the cheapest everywhere


def test_a_weight_is_reused_until_every_decisions_have_passed() -> None:
    weights = CostWeights(window=100, every=10)
    for _ in range(10):
        weights.record([0.5, 0.9], [0.1, 1.0])
    first = weights.weight(0.9)
    assert first is not None and first > 0
    for _ in range(9):  # the window changes, the cached weight stays
        weights.record([0.6, 0.9], [0.1, 1.0])
        assert weights.weight(0.9) == first
    weights.record([0.6, 0.9], [0.1, 1.0])
    assert weights.weight(0.9) != first  # re-solved on the new window


def test_rows_with_fewer_candidates_are_padded_and_never_chosen() -> None:
    weights = CostWeights(window=10, every=1)
    weights.record([0.7], [1.0])  # one candidate only (constraints left one model)
    weights.record([0.2, 0.5, 0.8], [0.1, 0.3, 1.0])
    assert weights.weight(0.5) is not None  # the padded column is -inf, never the best


def test_each_target_gets_its_own_weight_on_the_same_window(catalog: Catalog) -> None:  # noqa: F811
    """A request's (or key's) target other than the router's default: the weight at which the
    recent traffic, had it all asked for that target, keeps it (docs/bandit.md)."""
    model = QualityModel.prior(catalog)  # cheap 0.6, middle 0.8, premium 0.9
    costs = {"cheap": 0.001, "middle": 0.01, "premium": 0.1}
    weights = CostWeights(window=200, every=50)
    rng = random.Random(0)
    for pattern in ["general", "code"] * 50:  # routed decisions at the default target
        x = context_vector(one_hot(pattern), ["a" * 100])
        choose(catalog.models, model, x, 0.95, rng, None, costs=costs, weights=weights, record=True)
    x = context_vector(one_hot("general"), ["a" * 100])

    def chosen(target: float) -> tuple[str, float | None]:
        choice = choose(catalog.models, model, x, target, rng, None, costs=costs, weights=weights)
        return choice.model_id, choice.cost_weight

    assert chosen(1.0) == ("premium", 0.0)
    assert chosen(0.85)[0] == "middle"  # 0.8 keeps 0.89 of 0.9
    assert chosen(0.6)[0] == "cheap"  # 0.6 keeps 0.67
    strict, loose = chosen(0.95)[1], chosen(0.85)[1]
    assert strict is not None and loose is not None and loose > strict
    assert weights.decisions == 100  # deciding without `record` (a preview) adds nothing


def test_the_dry_run_solves_each_models_weight_on_the_requests_themselves(
    catalog: Catalog,  # noqa: F811
) -> None:
    before = QualityModel.prior(catalog)
    requests = [PastRequest(context_vector(one_hot("general"), ["a" * 100]), 100, 100)] * 20
    per_prompt_moves = traffic_moves(before, before, requests, catalog.models, 0.85)
    aggregate = traffic_moves(before, before, requests, catalog.models, 0.85, aggregate=True)
    assert per_prompt_moves["before"] == {"middle": 20}
    assert aggregate["before"] == aggregate["after"] == {"middle": 20}
    assert aggregate["moved"] == 0
    assert traffic_moves(before, before, requests, catalog.models, 0.6, aggregate=True)[
        "before"
    ] == {"cheap": 20}


def test_the_policy_records_routed_decisions_and_not_previews() -> None:
    from tests.unit.test_learned_choice import learned
    from tests.unit.test_policy import decide, policy

    weights = CostWeights(window=10, every=2)
    decide(policy(), scoring=learned(weights=weights, record=False))
    assert weights.decisions == 0
    for _ in range(3):
        decision = decide(policy(), scoring=learned(weights=weights, record=True))
    assert weights.decisions == 3
    assert decision.bandit is not None and decision.bandit.cost_weight is not None
    assert any("cost share" in r for r in decision.reasons)
