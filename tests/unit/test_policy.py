"""The routing policy: candidates, constraints, priors, overrides and exploration."""

import random

import pytest

from schemas.messages import Override, RouteConstraints
from shared.routing.catalog import Catalog, ModelSpec
from shared.routing.classifier import Classification
from shared.routing.policy import NoCandidateError, RoutingPolicy, expected_quality


def spec(
    model_id: str, provider: str, price: float, quality: float, tier: str, context: int = 200_000
) -> ModelSpec:
    return ModelSpec(
        id=model_id,
        provider=provider,
        vendor_model=model_id,
        tier=tier,
        input_per_mtok=price,
        output_per_mtok=price * 5,
        context_window=context,
        quality={"default": quality, "code": quality},
    )


CATALOG = Catalog(
    default_premium_model="premium",
    models=[
        spec("tiny", "google", 0.05, 0.70, "cheap", context=8_000),
        spec("cheap", "google", 0.1, 0.85, "cheap"),
        spec("middle", "anthropic", 1.0, 0.90, "middle"),
        spec("premium", "anthropic", 5.0, 0.95, "premium"),
        spec("elsewhere", "openrouter", 0.01, 0.99, "cheap"),  # provider not configured
    ],
)
CODE = Classification("code", "medium", ())


def policy(**kwargs: object) -> RoutingPolicy:
    settings = {"quality_floor": 0.8, "exploration_rate": 0.0, "override_min_confidence": "medium"}
    settings.update(kwargs)
    return RoutingPolicy(CATALOG, frozenset({"google", "anthropic"}), **settings)  # type: ignore[arg-type]


def decide(p: RoutingPolicy, classification: Classification = CODE, **kwargs: object):
    return p.decide(classification, 1000, 500, random.Random(0), **kwargs)  # type: ignore[arg-type]


def override(pattern: str, model: str, level: str = "high", bound: float = 0.9) -> Override:
    provider = CATALOG.get(model).provider
    return Override(
        pattern=pattern,
        model=model,
        provider=provider,
        confidence_level=level,
        confidence_bound=bound,
        sample_count=200,
    )


def test_cheapest_adequate_model_of_a_configured_provider() -> None:
    decision = decide(policy())
    assert decision.model.id == "cheap"  # "tiny" is below the floor, "elsewhere" not configured
    assert "elsewhere" not in decision.candidates
    assert decision.estimated_cost_usd == pytest.approx(CATALOG.get("cheap").cost(1000, 500))
    assert decision.baseline_cost_usd == pytest.approx(CATALOG.get("premium").cost(1000, 500))
    assert not decision.explored and decision.override_version is None
    assert decision.reasons


def test_complexity_adjusts_expected_quality() -> None:
    cheap = CATALOG.get("cheap")
    assert expected_quality(cheap, "code", "low") > expected_quality(cheap, "code", "medium")
    assert expected_quality(cheap, "code", "high") == pytest.approx(1 - 0.15 * 1.4)
    hard = decide(policy(), Classification("code", "high", ()))
    assert hard.model.id == "middle"  # cheap falls to 0.79 on hard prompts


def test_best_available_when_none_meets_the_floor() -> None:
    assert decide(policy(quality_floor=0.99)).model.id == "premium"


def test_constraints_are_respected() -> None:
    p = policy()
    assert (
        decide(p, constraints=RouteConstraints(allowed_providers=["anthropic"])).model.id
        == "middle"
    )
    assert decide(p, constraints=RouteConstraints(min_quality=0.93)).model.id == "premium"
    capped = decide(p, constraints=RouteConstraints(max_cost_usd=0.0005, min_quality=0.1))
    assert capped.model.id in {"tiny", "cheap"}
    assert capped.estimated_cost_usd <= 0.0005
    with pytest.raises(NoCandidateError, match="max_cost_usd"):
        decide(p, constraints=RouteConstraints(max_cost_usd=1e-9))


def test_context_window_is_respected() -> None:
    decision = policy(quality_floor=0.0).decide(CODE, 7_800, 500, random.Random(0))
    assert "tiny" not in decision.candidates
    with pytest.raises(NoCandidateError, match="context"):
        policy().decide(CODE, 10_000_000, 500, random.Random(0))


def test_forced_model() -> None:
    forced = decide(policy(exploration_rate=1.0), constraints=RouteConstraints(model="tiny"))
    assert forced.model.id == "tiny" and not forced.explored
    with pytest.raises(NoCandidateError, match="not a catalog model id") as unknown:
        decide(policy(), constraints=RouteConstraints(model="gpt-17"))
    assert "gpt-17" not in str(unknown.value), "errors never echo input"
    with pytest.raises(NoCandidateError, match="not configured"):
        decide(policy(), constraints=RouteConstraints(model="elsewhere"))


def test_a_retired_id_is_answered_by_the_model_that_replaces_it() -> None:
    successor = spec("middle-2", "anthropic", 0.8, 0.92, "middle").model_copy(
        update={"replaces": ["middle-1"]}
    )
    catalog = CATALOG.model_copy(update={"models": [*CATALOG.models, successor]})
    assert catalog.resolve("middle-1") == "middle-2"
    assert catalog.resolve("middle-2") == "middle-2"
    assert catalog.resolve("gpt-17") is None
    assert not catalog.has("middle-1"), "a retired id is not a catalog model"
    routing = RoutingPolicy(
        catalog,
        frozenset({"google", "anthropic"}),
        quality_floor=0.8,
        exploration_rate=0.0,
        override_min_confidence="medium",
    )
    forced = decide(routing, constraints=RouteConstraints(model="middle-1"))
    assert forced.model.id == "middle-2"


def test_a_retired_id_may_not_clash_with_a_listed_model() -> None:
    clash = spec("middle-2", "anthropic", 0.8, 0.92, "middle").model_copy(
        update={"replaces": ["cheap"]}
    )
    with pytest.raises(ValueError, match="cheap"):
        Catalog(default_premium_model="premium", models=[*CATALOG.models, clash])


def test_the_shipped_catalog_still_answers_for_claude_sonnet_4_5() -> None:
    from shared.routing.catalog import load_catalog

    shipped = load_catalog()
    assert shipped.resolve("claude-sonnet-4-5") == "claude-sonnet-5-5"
    assert (
        shipped.resolve("openrouter/anthropic/claude-sonnet-4.5")
        == "openrouter/anthropic/claude-sonnet-5.5"
    )


def test_override_takes_precedence() -> None:
    decision = decide(
        policy(), overrides={"code": override("code", "premium")}, overrides_version=7
    )
    assert decision.model.id == "premium"
    assert decision.override_version == 7
    assert decision.key == "code"


def test_finer_override_key_wins() -> None:
    overrides = {
        "code": override("code", "premium"),
        "code/medium": override("code/medium", "tiny"),
    }
    assert decide(policy(), overrides=overrides).model.id == "tiny"


def test_override_needs_confidence_and_a_candidate_model() -> None:
    low = {"code": override("code", "premium", level="low")}
    assert decide(policy(), overrides=low).model.id == "cheap"
    assert decide(policy(override_min_confidence="low"), overrides=low).model.id == "premium"
    elsewhere = {"code": override("code", "elsewhere")}
    assert decide(policy(), overrides=elsewhere).model.id == "cheap"
    weak_evidence = {"code": override("code", "middle", bound=0.6)}
    strict = decide(
        policy(), overrides=weak_evidence, constraints=RouteConstraints(min_quality=0.92)
    )
    assert strict.model.id == "premium"


def test_exploration_share_and_direction() -> None:
    p = policy(exploration_rate=0.1)
    rng = random.Random(1234)
    overrides = {"code": override("code", "premium")}
    draws = [
        p.decide(CODE, 1000, 500, rng, overrides=overrides, overrides_version=3)
        for _ in range(5000)
    ]
    explored = [d for d in draws if d.explored]
    assert 0.09 <= len(explored) / len(draws) <= 0.11
    premium_cost = CATALOG.get("premium").cost(1000, 500)
    assert all(d.estimated_cost_usd < premium_cost for d in explored)
    assert all(d.override_version is None for d in explored)  # the override did not decide these
    assert all(d.override_version == 3 for d in draws if not d.explored)


def test_exploration_prefers_the_learners_trials() -> None:
    p = policy(exploration_rate=1.0)
    rng = random.Random(5)
    picks = {p.decide(CODE, 1000, 500, rng, overrides={"code": override("code", "premium")},
                      trials={"code": ["middle"]}).model.id for _ in range(50)}  # fmt: skip
    assert picks == {"middle"}


def test_exploration_is_deterministic_with_a_seed() -> None:
    p = policy(exploration_rate=0.3)

    def run() -> list[str]:
        rng = random.Random(9)
        return [p.decide(CODE, 1000, 500, rng).model.id for _ in range(50)]

    assert run() == run()


def test_no_exploration_under_min_quality() -> None:
    p = policy(exploration_rate=1.0)
    decision = decide(p, constraints=RouteConstraints(min_quality=0.9))
    assert not decision.explored
