"""The bandit replay's dev protocols (replay/dev_split.py): no held-out prompt is ever read,
a scored fold is never streamed, the folds partition the streamed part, and the same seed gives
the same split."""

import json
from pathlib import Path

import pytest

from replay import cli
from replay.bandit_eval import run_seed
from replay.bandit_loop import BanditReplayConfig, Contexts
from replay.datasets import load_jsonl
from replay.dev_split import DevSplit, splits
from replay.records import replay_catalog

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "replay_two_patterns.jsonl"


@pytest.fixture
def dataset():
    return load_jsonl(FIXTURE)


def uids(records) -> list[str]:
    return [r.uid for r in records]


def held_out_and_streamed(dataset, seed):
    [(streamed, held_out)] = splits(dataset, seed, 0.3, None, None)
    return streamed, held_out


@pytest.mark.parametrize("folds", [2, 7, 10])
def test_folds_partition_the_streamed_part_and_never_touch_the_held_out_split(
    dataset, folds
) -> None:
    streamed, held_out = held_out_and_streamed(dataset, seed=3)
    every = splits(dataset, 3, 0.3, None, DevSplit(folds=folds, per_seed=folds))
    assert len(every) == folds
    scored = [uids(s) for _, s in every]
    # Each prompt of the streamed part is scored by exactly one fold; sizes differ by <= 1.
    assert sorted(u for fold in scored for u in fold) == sorted(uids(streamed))
    assert max(map(len, scored)) - min(map(len, scored)) <= 1
    position = {u: i for i, u in enumerate(uids(streamed))}
    for stream, fold in every:
        assert not set(uids(stream)) & set(uids(fold))  # the scored fold is never streamed
        assert not (set(uids(stream)) | set(uids(fold))) & set(uids(held_out))
        assert len(stream) + len(fold) == len(streamed)
        # The stream keeps the seeded order of the streamed part.
        assert [position[u] for u in uids(stream)] == sorted(position[u] for u in uids(stream))


def test_seeds_rotate_through_the_folds_and_the_split_is_deterministic(dataset) -> None:
    dev = DevSplit(folds=4)
    assert [dev.scored_folds(s) for s in range(5)] == [[0], [1], [2], [3], [0]]
    assert DevSplit(folds=4, per_seed=3).scored_folds(2) == [2, 3, 0]
    first = splits(dataset, 5, 0.3, None, dev)
    again = splits(dataset, 5, 0.3, None, dev)
    assert [(uids(a), uids(b)) for a, b in first] == [(uids(a), uids(b)) for a, b in again]
    other = splits(dataset, 6, 0.3, None, dev)
    assert uids(other[0][1]) != uids(first[0][1])


def test_the_one_cut_dev_split_stays_inside_the_streamed_part(dataset) -> None:
    streamed, held_out = held_out_and_streamed(dataset, seed=1)
    [(stream, scored)] = splits(dataset, 1, 0.3, None, DevSplit())
    assert uids(stream) + uids(scored) == uids(streamed)
    assert len(scored) == round(0.3 * len(streamed))
    assert not set(uids(stream + scored)) & set(uids(held_out))


def test_bad_fold_settings_are_refused() -> None:
    for folds, per_seed in ((1, 1), (-2, 1), (4, 5), (4, 0)):
        with pytest.raises(ValueError):
            DevSplit(folds=folds, per_seed=per_seed)


class Seen(Contexts):
    """Contexts that remember every prompt the replay classified: all it streamed or scored."""

    def __init__(self) -> None:
        super().__init__()
        self.uids: set[str] = set()

    def get(self, record):
        self.uids.add(record.uid)
        return super().get(record)


def test_a_dev_fold_run_reads_no_held_out_prompt_and_pools_every_fold(dataset) -> None:
    config = BanditReplayConfig(seed=2, retrain_every=10)
    catalog = replay_catalog(dataset, config.max_tokens)
    streamed, held_out = held_out_and_streamed(dataset, seed=2)
    seen = Seen()
    result = run_seed(dataset, catalog, config, seen, DevSplit(folds=4, per_seed=4))
    assert seen.uids == set(uids(streamed))
    assert not seen.uids & set(uids(held_out))
    # Every prompt of the streamed part scored once, each by the model that never streamed it.
    assert result["scored"] == len(streamed) and result["final"]["n"] == len(streamed)
    assert result["streamed"] == len(streamed) - len(streamed) // 4
    assert result["online"]["n"] == 4 * result["streamed"]
    assert result["folds"] == {"count": 4, "scored": [2, 3, 0, 1]}
    assert result["final"]["quality_vs_best"] >= 0.95  # it still learns the fixture
    assert result["two_models"]["curve"][-1]["pgr"] == 1.0


def test_cli_dev_folds(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "folds"
    args = ["--dataset", "jsonl", "--records", str(FIXTURE), "--out", str(out), "--quiet"]
    args += ["--retrain-every", "10", "--seeds", "0", "1", "--feedback-rates", "1.0"]
    assert cli.main([*args, "--dev", "--dev-folds", "5"]) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["scored_on"].startswith("dev folds")
    assert result["config"]["dev"] == {"folds": 5, "per_seed": 1}
    runs = result["by_feedback_rate"]["1.0"]["seeds"]
    assert [r["folds"]["scored"] for r in runs] == [[0], [1]]
    assert all(r["streamed"] + r["scored"] == 168 and r["scored"] in (33, 34) for r in runs)
    # Folds without --dev would score the held-out split's stream: refused.
    assert cli.main([*args, "--dev-folds", "5"]) == 2
