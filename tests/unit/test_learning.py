"""The learning math: Wilson bounds, confidence levels, override selection, trials and diffs."""

import pytest

from schemas.messages import Override
from shared.routing.catalog import Catalog, ModelSpec
from shared.routing.learning import (
    ModelStats,
    blended_price_per_mtok,
    confidence_level,
    diff_overrides,
    is_good,
    route_key,
    select_overrides,
    select_trials,
    wilson_interval,
    wilson_lower_bound,
)


def spec(model_id: str, price: float, tier: str = "cheap") -> ModelSpec:
    return ModelSpec(
        id=model_id,
        provider="simulated",
        vendor_model=model_id,
        tier=tier,
        input_per_mtok=price,
        output_per_mtok=price * 4,
        context_window=100_000,
        quality={"default": 0.8},
    )


@pytest.fixture
def catalog() -> Catalog:
    return Catalog(
        default_premium_model="premium",
        models=[
            spec("cheap", 0.1),
            spec("middle", 1.0, "middle"),
            spec("premium", 10.0, "premium"),
        ],
    )


# Reference values computed by hand from the Wilson formula (z = 1.96).
@pytest.mark.parametrize(
    ("good", "n", "lower", "upper"),
    [
        (8, 10, 0.4902, 0.9433),
        (10, 10, 0.7225, 1.0),
        (50, 100, 0.4038, 0.5962),
        (0, 10, 0.0, 0.2775),
    ],
)
def test_wilson_matches_hand_computed(good: int, n: int, lower: float, upper: float) -> None:
    lo, hi = wilson_interval(good, n)
    assert lo == pytest.approx(lower, abs=1e-4)
    assert hi == pytest.approx(upper, abs=1e-4)
    assert wilson_lower_bound(good, n) == pytest.approx(lower, abs=1e-4)


def test_wilson_without_data_and_bad_input() -> None:
    assert wilson_lower_bound(0, 0) == 0.0
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError, match="within"):
        wilson_lower_bound(11, 10)


def test_more_evidence_raises_the_bound() -> None:
    assert wilson_lower_bound(3, 3) < wilson_lower_bound(180, 200)
    assert wilson_lower_bound(90, 100) < wilson_lower_bound(900, 1000)


def test_good_outcome_definition() -> None:
    assert is_good(1, True)  # correctness wins over a low score
    assert not is_good(5, False)
    assert is_good(4, None)
    assert not is_good(3, None)
    assert not is_good(None, None)


@pytest.mark.parametrize(
    ("bound", "samples", "level"),
    [
        (0.8, 150, "high"),
        (0.75, 100, "high"),
        (0.8, 99, "medium"),
        (0.5, 20, "medium"),
        (0.49, 500, "low"),
        (0.9, 19, "low"),
    ],
)
def test_confidence_levels(bound: float, samples: int, level: str) -> None:
    assert confidence_level(bound, samples) == level


def test_cheapest_model_whose_bound_clears_the_threshold(catalog: Catalog) -> None:
    stats = [
        ModelStats("code", "cheap", 50, 35),  # bound 0.56: not enough
        ModelStats("code", "middle", 200, 180),  # bound 0.85
        ModelStats("code", "premium", 300, 290),
        ModelStats("math", "cheap", 10, 10),  # too few samples
        ModelStats("math", "premium", 100, 97),
    ]
    chosen = {o.pattern: o for o in select_overrides(stats, catalog, 20, 0.7)}
    assert chosen["code"].model == "middle"
    assert chosen["code"].sample_count == 200
    assert chosen["code"].confidence_bound == pytest.approx(wilson_lower_bound(180, 200), abs=1e-4)
    assert chosen["code"].confidence_level == "high"
    assert chosen["math"].model == "premium"


def test_no_override_when_nothing_qualifies_and_unknown_models_are_ignored(
    catalog: Catalog,
) -> None:
    stats = [ModelStats("code", "cheap", 100, 40), ModelStats("code", "retired-model", 500, 500)]
    assert select_overrides(stats, catalog, 20, 0.7) == []


def test_cheapest_is_by_blended_catalog_price(catalog: Catalog) -> None:
    assert blended_price_per_mtok(catalog.get("cheap")) == pytest.approx(0.75 * 0.1 + 0.25 * 0.4)
    stats = [ModelStats("qa", "premium", 500, 490), ModelStats("qa", "middle", 500, 480)]
    assert select_overrides(stats, catalog, 20, 0.7)[0].model == "middle"


def test_value_rule_pays_for_quality_only_when_it_is_worth_it(catalog: Catalog) -> None:
    def stats(cheap_good: int) -> list[ModelStats]:
        return [
            ModelStats("qa", "cheap", 400, cheap_good, avg_cost_usd=0.0001),
            ModelStats("qa", "premium", 400, 380, avg_cost_usd=0.01),
        ]

    # A good answer worth $0.05: the premium model's +5 points cost $0.01 -> not worth it.
    near = select_overrides(stats(360), catalog, 20, 0.7, value_per_good_usd=0.05)
    assert near[0].model == "cheap"
    # When the cheap model is much worse, the premium one pays for itself.
    far = select_overrides(stats(200), catalog, 20, 0.7, value_per_good_usd=0.05)
    assert far[0].model == "premium"


def test_trials_are_cheaper_models_that_might_still_win(catalog: Catalog) -> None:
    stats = [
        ModelStats("qa", "premium", 300, 270),
        ModelStats("qa", "cheap", 200, 40),  # plenty of evidence that it is bad
    ]
    trials = select_trials(stats, catalog, [], 20, 0.7)
    assert trials == {"qa": ("middle",)}  # never tried: a trial; "cheap" has been ruled out
    thin = select_trials([*stats[:1], ModelStats("qa", "cheap", 3, 0)], catalog, [], 20, 0.7)
    assert "cheap" in thin["qa"]  # three bad answers are not yet evidence


def test_route_key() -> None:
    assert route_key("code") == "code"
    assert route_key("code", "high") == "code/high"


def override(pattern: str, model: str, level: str = "high", bound: float = 0.9) -> Override:
    return Override(
        pattern=pattern,
        model=model,
        provider="simulated",
        confidence_level=level,
        confidence_bound=bound,
        sample_count=120,
        avg_quality=4.5,
        correct_rate=0.92,
    )


def test_diff_overrides() -> None:
    old = [override("code", "middle"), override("general", "cheap"), override("math", "premium")]
    new = [
        override("code", "cheap"),
        override("math", "premium", bound=0.95),  # fresher evidence, same decision
        override("summarization", "cheap", "medium"),
    ]
    diff = diff_overrides(old, new)
    assert [o.pattern for o in diff.added] == ["summarization"]
    assert [o.pattern for o in diff.removed] == ["general"]
    assert [(c.before.model, c.after.model) for c in diff.changed] == [("middle", "cheap")]
    assert diff.changed[0].after.sample_count == 120  # evidence travels with the change
    assert diff.unchanged == 1
    assert not diff.empty
    assert diff_overrides(old, old).empty
