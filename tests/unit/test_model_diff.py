"""The dry-run diff decides each recent request within its key's rules (`PastRequest`):
allowed models and providers, max cost, quality target, `min_quality`; a request the rules
leave no candidate for is counted apart."""

from __future__ import annotations

from dataclasses import replace

from shared.routing.bandit.context import context_vector
from shared.routing.bandit.outcomes import Outcome
from shared.routing.bandit.quality_model import QualityModel
from shared.routing.catalog import Catalog
from shared.routing.model_diff import PastRequest, traffic_moves
from tests.unit.test_bandit import catalog, one_hot  # noqa: F401 (a fixture)

X = context_vector(one_hot("general"), ["a" * 100])


def _models(catalog: Catalog) -> tuple[QualityModel, QualityModel]:  # noqa: F811
    """The priors (general prompts go to the middle model at 0.85), and a version that learned
    the cheap model is as good as any on them."""
    before = QualityModel.prior(catalog)
    after = before.updated([Outcome("cheap", X, 1.0)] * 200)
    return before, after


def _moves(catalog: Catalog, request: PastRequest) -> dict[str, object]:  # noqa: F811
    before, after = _models(catalog)
    return traffic_moves(before, after, [request] * 10, catalog.models, 0.85)


def test_without_rules_the_traffic_moves_to_the_cheap_model(catalog: Catalog) -> None:  # noqa: F811
    moves = _moves(catalog, PastRequest(X, 100, 100))
    assert moves["before"] == {"middle": 10} and moves["after"] == {"cheap": 10}
    assert moves["no_candidate"] == 0


def test_a_keys_allowed_models_and_providers_keep_it_where_it_may_go(
    catalog: Catalog,  # noqa: F811
) -> None:
    plain = PastRequest(X, 100, 100)
    no_cheap = replace(plain, allowed_models=frozenset({"middle", "premium"}))
    assert _moves(catalog, no_cheap)["after"] == {"middle": 10}
    provider = catalog.models[0].provider
    elsewhere = replace(plain, allowed_providers=frozenset({provider + "-other"}))
    moves = _moves(catalog, elsewhere)
    assert moves["requests"] == 0 and moves["no_candidate"] == 10


def test_a_keys_target_max_cost_and_floor_apply(catalog: Catalog) -> None:  # noqa: F811
    plain = PastRequest(X, 100, 100)
    # At a target of 1 the priors' best (premium) stays the choice before the fit.
    assert _moves(catalog, replace(plain, quality_target=1.0))["before"] == {"premium": 10}
    cheap, middle = (m.cost(100, 100) for m in catalog.models[:2])
    capped = _moves(catalog, replace(plain, max_cost_usd=(cheap + middle) / 2))
    assert capped["before"] == {"cheap": 10} and capped["moved"] == 0
    # A floor the priors say only premium reaches: premium before, the cheap model after.
    floor = _moves(catalog, replace(plain, min_quality=0.88))
    assert floor["before"] == {"premium": 10} and floor["after"] == {"cheap": 10}
