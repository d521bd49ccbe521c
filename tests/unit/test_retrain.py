"""The one retrain step the learner service and the replay evaluator share."""

from replay.simulate import Learner, ReplayConfig
from schemas.messages import Override
from shared.routing.catalog import Catalog
from shared.routing.learning import ModelStats
from shared.routing.retrain import RetrainRule, retrain
from tests.unit.test_learning import spec

CATALOG = Catalog(
    default_premium_model="premium",
    models=[spec("cheap", 0.1), spec("middle", 1.0, "middle"), spec("premium", 10.0, "premium")],
)
RULE = RetrainRule(min_samples=20, confidence_threshold=0.7)


def test_the_cheapest_model_clearing_the_bar_wins_and_unknown_models_are_dropped() -> None:
    evidence = [
        ModelStats("code", "cheap", 200, 60),
        ModelStats("code", "middle", 200, 190),
        ModelStats("code", "premium", 200, 198),
        ModelStats("code", "retired-model", 500, 500),
    ]
    result = retrain(evidence, CATALOG, RULE)
    assert [(o.pattern, o.model) for o in result.overrides] == [("code", "middle")]
    assert {row.model for row in result.evidence} == {"cheap", "middle", "premium"}


def test_ranking_is_by_list_price_when_no_cost_is_observed() -> None:
    # Both clear the bar; "middle" is ten times cheaper by list price.
    evidence = [ModelStats("qa", "middle", 300, 290), ModelStats("qa", "premium", 300, 295)]
    picked = retrain(evidence, CATALOG, RULE).overrides
    assert [o.model for o in picked] == ["middle"]


def test_new_trials_alone_are_a_change_and_fresh_counts_are_not() -> None:
    evidence = [ModelStats("code", "premium", 200, 190)]
    first = retrain(evidence, CATALOG, RULE)
    assert first.trials == {"code": ["cheap", "middle"]}  # cheaper, untried: equal promise
    assert first.changes([], {})
    assert not first.changes(first.overrides, first.trials)
    assert first.changes(first.overrides, {})
    fresher = retrain([ModelStats("code", "premium", 260, 250)], CATALOG, RULE)
    assert not fresher.changes(first.overrides, first.trials)


def test_trials_can_be_turned_off() -> None:
    rule = RetrainRule(min_samples=20, confidence_threshold=0.7, trials=False)
    assert retrain([ModelStats("code", "premium", 200, 190)], CATALOG, rule).trials == {}


def test_the_replay_learner_applies_exactly_what_retrain_proposes() -> None:
    config = ReplayConfig(min_samples=20, threshold=0.7, value_per_good_usd=None)
    learner = Learner(CATALOG, config)
    for index in range(40):
        learner.record("code", "middle", 5 if index % 10 else 2, None)
        learner.record("code", "premium", 5, None)
    learner.retrain()
    expected = retrain(learner.stats(), CATALOG, RULE)
    assert list(learner.overrides.values()) == expected.overrides
    assert learner.trials == expected.trials
    assert learner.version == 1
    learner.retrain()  # nothing new learned: no new version
    assert learner.version == 1
    assert all(isinstance(o, Override) for o in learner.overrides.values())
