"""The learned quality model inside the policy: the knob, the constraints it keeps, exploration
only towards cheaper models, and a cold start that decides exactly as before."""

from __future__ import annotations

import random

import numpy as np

from schemas.messages import RouteConstraints
from shared.routing.bandit.chooser import ExplorationBudget
from shared.routing.bandit.context import CONTEXT_SIZE, PATTERN_SLICE
from shared.routing.bandit.outcomes import Outcome
from shared.routing.bandit.params import BanditParams
from shared.routing.bandit.quality_model import QualityModel
from shared.routing.catalog import PATTERNS
from shared.routing.learned_choice import Scoring
from shared.routing.policy import Decision
from tests.unit.test_policy import CATALOG, CODE, decide, override, policy

# A code prompt as the context vector sees it: bias, pattern one-hot, nothing else.
X = np.zeros(CONTEXT_SIZE, dtype=np.float32)
X[0] = 1.0
X[PATTERN_SLICE.start + PATTERNS.index("code")] = 1.0
PRIOR = QualityModel.prior(CATALOG)
# "cheap" rated good 40 times on such prompts: predicted close to the premium model.
LEARNED = PRIOR.updated([Outcome("cheap", X, 1.0) for _ in range(40)])


def learned(model: QualityModel = LEARNED, **kwargs: object) -> Scoring:
    return Scoring(model, X, version=kwargs.pop("version", 7), **kwargs)  # type: ignore[arg-type]


def by_the_rule(decision: Decision, target: float = 0.95) -> str:
    """The cheapest candidate predicted within the target's per-prompt bar of the best."""
    estimates = decision.estimates  # cheapest first
    best = max(e.predicted_quality for e in estimates)
    bar = BanditParams().bar(target) * best
    return next(e.model_id for e in estimates if e.predicted_quality >= bar)


def test_a_learned_version_decides_at_the_target_and_says_so() -> None:
    decision = decide(policy(), scoring=learned())
    assert decision.model.id == by_the_rule(decision) != "premium"
    assert decision.model_version == 7 and decision.quality_target == 0.95
    assert not decision.explored
    estimates = {e.model_id: e for e in decision.estimates}
    assert set(estimates) == set(decision.candidates)
    assert decision.expected_quality == estimates[decision.model.id].predicted_quality
    assert any("quality model v7" in r for r in decision.reasons)


def test_the_request_target_moves_the_choice_between_cheaper_and_better() -> None:
    strict = decide(policy(), scoring=learned(), constraints=RouteConstraints(quality_target=1.0))
    loose = decide(policy(), scoring=learned(), constraints=RouteConstraints(quality_target=0.0))
    assert strict.model.id == max(strict.estimates, key=lambda e: e.predicted_quality).model_id
    assert loose.model.id == "tiny", "target 0: the cheapest candidate"
    assert strict.quality_target == 1.0 and loose.quality_target == 0.0


def test_min_quality_leaves_out_models_predicted_below_it_and_is_never_explored() -> None:
    budget = ExplorationBudget(share=1.0, saved_usd=1e6)
    chosen = set()
    for seed in range(30):
        decision = policy().decide(
            CODE, 1000, 500, random.Random(seed),
            constraints=RouteConstraints(min_quality=0.93),
            scoring=learned(PRIOR, budget=budget),
        )  # fmt: skip
        assert not decision.explored
        chosen.add(decision.model.id)
    assert chosen == {"premium"}, "the only candidate whose prior reaches 0.93"


def test_constraints_and_forced_models_stay_in_force() -> None:
    allowed = decide(
        policy(), scoring=learned(), constraints=RouteConstraints(allowed_models=["middle"])
    )
    assert allowed.model.id == "middle" and allowed.candidates == ("middle",)
    forced = decide(policy(), scoring=learned(), constraints=RouteConstraints(model="premium"))
    assert forced.model.id == "premium" and forced.model_version is None


def test_exploration_only_ever_tries_a_cheaper_model_within_its_budget() -> None:
    budget = ExplorationBudget(share=1.0, saved_usd=1e6)
    greedy = decide(policy(), scoring=learned(PRIOR)).model.id  # no budget: the greedy rule
    greedy_cost = CATALOG.get(greedy).cost(1000, 500)
    explored = 0
    for seed in range(200):
        decision = policy().decide(
            CODE, 1000, 500, random.Random(seed), scoring=learned(PRIOR, budget=budget)
        )
        if decision.explored:
            explored += 1
            assert decision.estimated_cost_usd < greedy_cost
        else:
            assert decision.model.id == greedy
    assert 0 < explored < 200
    nothing = ExplorationBudget(share=0.0, endowment=0.0)
    for seed in range(50):
        decision = policy().decide(
            CODE, 1000, 500, random.Random(seed), scoring=learned(PRIOR, budget=nothing)
        )
        assert not decision.explored


def test_an_override_is_reported_not_applied_once_a_model_decides() -> None:
    overrides = {"code": override("code", "middle")}
    decision = decide(policy(), scoring=learned(), overrides=overrides, overrides_version=3)
    assert decision.model.id == by_the_rule(decision) != "middle"
    assert decision.override_version is None
    assert any("override code -> middle reported only" in r for r in decision.reasons)


def test_at_cold_start_the_priors_explain_without_changing_the_decision() -> None:
    for seed in range(20):
        rng_plain, rng = random.Random(seed), random.Random(seed)
        plain = policy(exploration_rate=0.3).decide(CODE, 1000, 500, rng_plain)
        explained = policy(exploration_rate=0.3).decide(
            CODE, 1000, 500, rng, scoring=learned(PRIOR, version=None)
        )
        assert (explained.model.id, explained.explored) == (plain.model.id, plain.explored)
        assert explained.model_version is None and explained.estimates
        assert rng.random() == rng_plain.random(), "the priors draw nothing"
