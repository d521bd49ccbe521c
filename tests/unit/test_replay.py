"""The replay evaluator on a fixture whose right answer is known.

tests/fixtures/replay_two_patterns.jsonl: 120 code prompts the cheap model always gets right
and 120 math prompts it always gets wrong; the strong model gets everything right and costs
100 times more. Learning from feedback alone must send code to the cheap model and keep math
on the strong one.
"""

import json
from pathlib import Path

import pytest

from replay import cli
from replay.datasets import load_jsonl
from replay.metrics import segment
from replay.records import replay_catalog
from replay.simulate import ReplayConfig, Replayer, split

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "replay_two_patterns.jsonl"
EVALDATA = cli.DEFAULT_EVALDATA


@pytest.fixture
def dataset():
    return load_jsonl(FIXTURE)


def run(dataset, **changes):
    config = ReplayConfig(retrain_every=10, exploration=0.2, passes=2, **changes)
    catalog = replay_catalog(dataset, config.max_tokens)
    stream, holdout = split(dataset, config)
    replayer = Replayer(dataset, catalog, config)
    steps = replayer.run(stream)
    return replayer, catalog, steps, replayer.evaluate(holdout)


def test_fixture_loads(dataset) -> None:
    assert dataset.models == ("cheap", "strong")
    assert len(dataset.records) == 240
    assert {r.group for r in dataset.records} == {"code", "math"}


def test_replay_catalog_follows_the_datasets_prices(dataset) -> None:
    catalog = replay_catalog(dataset, 512)
    cheap, strong = catalog.get("cheap"), catalog.get("strong")
    assert cheap.input_per_mtok < strong.input_per_mtok
    assert catalog.baseline().id == "strong"
    # Only the reference model starts above the default floor: a cold start uses it.
    assert strong.prior_quality("code") > 0.8 > cheap.prior_quality("code")


def test_split_is_seeded_and_the_holdout_is_never_streamed(dataset) -> None:
    config = ReplayConfig(seed=3, holdout=0.25, passes=2)
    stream, holdout = split(dataset, config)
    assert len(holdout) == 60 and len(stream) == 2 * 180
    assert not {r.uid for r in holdout} & {r.uid for r in stream}
    again, _ = split(dataset, config)
    assert [r.uid for r in again] == [r.uid for r in stream]


def test_learned_policy_converges(dataset) -> None:
    replayer, catalog, steps, evaluated = run(dataset)
    overrides = replayer.learner.overrides
    assert overrides["code"].model == "cheap"
    assert "math" not in overrides or overrides["math"].model == "strong"
    after = segment(evaluated, dataset, catalog, seed=0)
    assert after["quality_vs_best"] == 1.0  # math stays on the strong model
    # Code moved to the 100x cheaper model: cost is the math share plus 1% of the code share.
    math_share = sum(s.record.group == "math" for s in evaluated) / len(evaluated)
    assert after["cost_vs_best"] == pytest.approx(math_share + 0.01 * (1 - math_share), abs=0.005)
    assert after["per_pattern"]["code"]["model_share"] == {"cheap": 1.0}
    online = segment(steps, dataset, catalog, seed=0)
    assert online["explored_share"] == pytest.approx(0.2, abs=0.06)
    assert online["oracle"]["quality"] == 1.0


def test_replay_is_deterministic(dataset) -> None:
    first = [s.model for s in run(dataset, seed=7)[2]]
    second = [s.model for s in run(dataset, seed=7)[2]]
    assert first == second


def test_cli_writes_json_and_plot(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "replay"
    args = ["--dataset", "jsonl", "--records", str(FIXTURE), "--out", str(out), "--quiet"]
    args += ["--router", "overrides"]
    code = cli.main([*args, "--retrain-every", "10", "--exploration", "0.2"])
    assert code == 0
    result = json.loads((out / "result.json").read_text())
    assert 0 < result["quality_vs_best"] <= 1.0
    assert 0 < result["cost_vs_best"] <= 1.0
    assert result["after_learning"]["quality_vs_best"] == 1.0
    assert result["learning_curve"]
    assert (out / "cost_quality.png").stat().st_size > 0


def test_bandit_cli_learns_the_fixture_and_reports_every_seed(tmp_path: Path) -> None:
    """The default router: one pass, held-out split, two seeds, feedback at 100% and 10%."""
    pytest.importorskip("matplotlib")
    out = tmp_path / "bandit"
    args = ["--dataset", "jsonl", "--records", str(FIXTURE), "--out", str(out), "--quiet"]
    assert cli.main([*args, "--retrain-every", "10", "--seeds", "0", "1"]) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["router"] == "bandit" and result["scored_on"] == "held-out split"
    assert set(result["by_feedback_rate"]) == {"1.0", "0.1"}
    full = result["by_feedback_rate"]["1.0"]
    assert [run["seed"] for run in full["seeds"]] == [0, 1]
    run = full["seeds"][0]
    assert run["streamed"] + run["scored"] == 240 and run["scored"] == 72
    # Code goes to the cheap model, math stays on the strong one: most of the cost saved.
    assert run["final"]["quality_vs_best"] >= 0.95
    assert run["final"]["cost_vs_best"] <= 0.6
    assert run["final"]["explored_share"] == 0.0
    assert 0.0 < run["online"]["explored_share"] < 0.5
    # Two models: PGR curve from 0 to 1, and better than random on this separable data.
    assert run["two_models"]["curve"][0] == {"strong_share": 0.0, "pgr": 0.0}
    assert run["two_models"]["apgr"] > 0.6
    assert full["summary"]["final"]["cost_vs_best"]["all"] == [
        s["final"]["cost_vs_best"] for s in full["seeds"]
    ]
    assert (out / "cost_quality.png").stat().st_size > 0


def test_cli_rejects_missing_records(tmp_path: Path) -> None:
    assert cli.main(["--dataset", "jsonl", "--out", str(tmp_path)]) == 2


@pytest.mark.skipif(
    not (EVALDATA / "routellm" / "mt_bench").exists(), reason="evaldata not present"
)
def test_mt_bench_adapter() -> None:
    from replay.datasets import load_mt_bench

    data = load_mt_bench(EVALDATA)
    assert data.graded
    assert 140 <= len(data.records) <= 160  # 80 questions x 2 turns, minus contaminated ones
    assert all(0 <= q <= 1 for r in data.records for q in r.quality.values())
    assert data.feedback(1.0) == (5, None) and data.feedback(0.6) == (3, None)


def test_apgr_and_cpt_by_hand() -> None:
    """Four prompts; the strong model gains 1 on two of them. Routing those first recovers the
    gap with half the calls; the worst order recovers nothing until the last two."""
    from replay.curves import apgr, cpt, two_model_curve
    from replay.records import ReplayRecord

    def rec(uid: str, weak: float, strong: float) -> ReplayRecord:
        return ReplayRecord(uid, (), {"w": weak, "s": strong}, {"w": 0.0, "s": 1.0})

    records = [rec("a", 1, 1), rec("b", 0, 1), rec("c", 0, 0), rec("d", 0, 1)]
    share, pgr = two_model_curve(records, "w", "s", [1, 3, 0, 2])
    assert share.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert pgr.tolist() == [0.0, 0.5, 1.0, 1.0, 1.0]
    assert apgr(pgr) == pytest.approx((0.25 + 0.75 + 1.0 + 1.0) / 4)
    assert cpt(share, pgr, 0.5) == 0.25 and cpt(share, pgr, 0.8) == 0.5
    _, worst = two_model_curve(records, "w", "s", [0, 2, 1, 3])
    assert worst.tolist() == [0.0, 0.0, 0.0, 0.5, 1.0]
    assert apgr(worst) == pytest.approx(0.25)  # trapezoids: 0.25 x (0.5 + 1 / 2)


def test_best_fixed_per_label_and_random_mix(dataset) -> None:
    """On the fixture, per category the cheap model is right for code and wrong for math."""
    from replay.curves import fit_fixed, oracle, random_mix

    rule = fit_fixed(dataset, dataset.records, lambda r: r.group, 0.95)
    assert rule == {"code": "cheap", "math": "strong"}
    line = random_mix(dataset, dataset.records, steps=2)
    assert line[-1] == {"quality_vs_best": 1.0, "cost_vs_best": 1.0}
    assert line[0] == {"quality_vs_best": 0.5, "cost_vs_best": 0.01}
    assert line[1] == {"quality_vs_best": 0.75, "cost_vs_best": 0.505}
    assert oracle(dataset, dataset.records) == {"quality_vs_best": 1.0, "cost_vs_best": 0.505}
